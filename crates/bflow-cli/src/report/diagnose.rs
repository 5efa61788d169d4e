//! `bflow diagnose` output: text, JSON and CSV for one state or a trajectory of states.
//! The numbers come from [`bflow::diagnose`]; this module only formats them.

use std::fmt::Write as _;

use serde_json::{Value, json};

use bflow::diagnose::{Diagnosis, FULL_COSINES_MAX_K_DEFAULT, PairCosine};

fn sci(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.6e}")
    } else {
        format!("{x} (beyond the float range)")
    }
}

fn b_text(x: Option<f64>) -> String {
    x.map_or_else(
        || "undefined (Q = 0: every gradient vanishes)".into(),
        |v| format!("{v:.3e}"),
    )
}

fn pairs_text(out: &mut String, d: &Diagnosis) {
    match &d.conflicts {
        None => out.push_str("most conflicting pairs: not searched (see the note)\n"),
        Some(p) if p.is_empty() => {
            out.push_str(
                "most conflicting pairs: none (no two gradients point apart: every cosine ≥ 0)\n",
            );
        }
        Some(p) => {
            out.push_str("most conflicting pairs (most negative cosines)\n");
            for PairCosine { i, j, cosine } in p {
                let _ = writeln!(out, "  {i:>5} & {j:<5} cos = {cosine:+.6}");
            }
        }
    }
}

fn median(sorted: &[f64]) -> f64 {
    let m = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[m]
    } else {
        0.5 * (sorted[m - 1] + sorted[m])
    }
}

/// The text of one diagnosis. For K ≤ 16: each objective's norm (and loss), B, I, |I + ½|,
/// the cosine matrix and the most conflicting pairs; above, norm statistics instead of the
/// per-objective lines and no matrix.
pub fn diagnosis_text(d: &Diagnosis) -> String {
    let mut out = String::new();
    let k = d.k;
    match d.n {
        Some(n) => {
            let _ = writeln!(out, "K = {k} objectives, n = {n} parameters");
        }
        None => {
            let _ = writeln!(out, "K = {k} objectives (from a Gram matrix)");
        }
    }
    if k <= FULL_COSINES_MAX_K_DEFAULT {
        for (i, norm) in d.gradient_norms.iter().enumerate() {
            let loss = d
                .losses
                .as_ref()
                .map_or(String::new(), |l| format!("L = {:<22.15e} ", l[i]));
            let _ = writeln!(out, "  objective {:<3} {loss}||g|| = {}", i + 1, sci(*norm));
        }
    } else {
        let mut sorted = d.gradient_norms.clone();
        sorted.sort_by(f64::total_cmp);
        let zeros = sorted.iter().filter(|&&x| x == 0.0).count();
        let _ = writeln!(
            out,
            "||g_i||       min {}, median {}, max {}; {zeros} zero",
            sci(sorted[0]),
            sci(median(&sorted)),
            sci(sorted[k - 1])
        );
    }
    let _ = writeln!(out, "||Σ g_i||     {}", sci(d.sum_norm));
    if d.degenerate {
        out.push_str("B             undefined: every gradient vanishes (Q = 0, B = 0/0)\n");
    } else {
        let _ = writeln!(out, "B             {}", b_text(d.b));
        let _ = writeln!(
            out,
            "I             {:.15}",
            d.interaction.unwrap_or(f64::NAN)
        );
        let _ = writeln!(out, "|I + 1/2|     {}", b_text(d.abs_i_plus_half));
    }
    match &d.cosines {
        Some(cos) if k <= FULL_COSINES_MAX_K_DEFAULT => {
            out.push_str("cosine matrix\n");
            for row in cos {
                let cells: Vec<String> = row
                    .iter()
                    .map(|c| c.map_or("     —".to_string(), |x| format!("{x:>+7.4}")))
                    .collect();
                let _ = writeln!(out, "  {}", cells.join(" "));
            }
        }
        Some(_) => {
            let _ = writeln!(
                out,
                "cosine matrix: {k}×{k}, in --json only (not printed above K = {FULL_COSINES_MAX_K_DEFAULT})"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "cosine matrix: not kept above K = {FULL_COSINES_MAX_K_DEFAULT} (--full-cosines puts it in --json)"
            );
        }
    }
    pairs_text(&mut out, d);
    for note in &d.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

/// A summary of a trajectory: B and |I + ½| at the first and last step, their extremes
/// and where, degenerate steps, and the most conflicting pairs at the last step and over
/// all steps.
pub fn trajectory_text(steps: &[Diagnosis]) -> String {
    let mut out = String::new();
    let Some(last) = steps.last() else {
        return out;
    };
    let first = &steps[0];
    let n = first.n.map_or("from Gram matrices".to_string(), |n| {
        format!("n = {n} parameters")
    });
    let _ = writeln!(
        out,
        "{} steps, K = {} objectives, {n}",
        steps.len(),
        first.k
    );
    let defined: Vec<(usize, f64)> = steps
        .iter()
        .enumerate()
        .filter_map(|(t, d)| d.b.map(|b| (t, b)))
        .collect();
    let at = |t: usize| {
        steps[t]
            .b
            .map_or("undefined".to_string(), |b| format!("{b:.3e}"))
    };
    let _ = writeln!(
        out,
        "B             first {} (step 0), last {} (step {})",
        at(0),
        at(steps.len() - 1),
        steps.len() - 1
    );
    if let (Some(lo), Some(hi)) = (
        defined.iter().min_by(|a, b| a.1.total_cmp(&b.1)),
        defined.iter().max_by(|a, b| a.1.total_cmp(&b.1)),
    ) {
        let _ = writeln!(
            out,
            "              min {:.3e} (step {}), max {:.3e} (step {})",
            lo.1, lo.0, hi.1, hi.0
        );
        let _ = writeln!(
            out,
            "|I + 1/2|     first {}, last {}, min {:.3e}",
            steps[0]
                .abs_i_plus_half
                .map_or("undefined".into(), |x| format!("{x:.3e}")),
            last.abs_i_plus_half
                .map_or("undefined".into(), |x| format!("{x:.3e}")),
            lo.1 / 2.0
        );
    }
    let degenerate = steps.len() - defined.len();
    if degenerate > 0 {
        let _ = writeln!(
            out,
            "degenerate    {degenerate} steps (every gradient vanishes: B undefined)"
        );
    }
    let _ = writeln!(
        out,
        "||Σ g_i||     first {}, last {}",
        sci(first.sum_norm),
        sci(last.sum_norm)
    );
    let worst = steps
        .iter()
        .enumerate()
        .filter_map(|(t, d)| d.conflicts.as_ref()?.first().map(|p| (t, *p)))
        .min_by(|a, b| a.1.cosine.total_cmp(&b.1.cosine));
    match worst {
        Some((t, p)) => {
            let _ = writeln!(
                out,
                "most conflicting over all steps: {} & {}, cos = {:+.6} at step {t}",
                p.i, p.j, p.cosine
            );
        }
        None => out.push_str("most conflicting over all steps: none (every cosine ≥ 0)\n"),
    }
    out.push_str("at the last step: ");
    pairs_text(&mut out, last);
    let mut seen = std::collections::BTreeSet::new();
    for note in steps.iter().flat_map(|d| &d.notes) {
        if seen.insert(note) {
            let _ = writeln!(out, "note: {note}");
        }
    }
    out
}

/// The JSON of a trajectory: `{"steps": [{"step", "B", "I", "abs_I_plus_half",
/// "degenerate", "sum_norm", "norms", "cosines" (when kept), "conflicts"}, …], "K", "n",
/// "source", "files"}`.
pub fn trajectory_json(steps: &[Diagnosis], files: &[String]) -> Value {
    let rows: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(t, d)| {
            let mut v = json!({
                "step": t,
                "B": d.b,
                "I": d.interaction,
                "abs_I_plus_half": d.abs_i_plus_half,
                "degenerate": d.degenerate,
                "sum_norm": d.sum_norm,
                "norms": d.gradient_norms,
                "conflicts": d.conflicts,
            });
            if let Some(c) = &d.cosines {
                v["cosines"] = json!(c);
            }
            v
        })
        .collect();
    let first = steps.first();
    json!({
        "steps": rows,
        "K": first.map(|d| d.k),
        "n": first.and_then(|d| d.n),
        "source": first.map(|d| d.source),
        "files": files,
    })
}

fn csv_num(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map_or(String::new(), |v| format!("{v:.16e}"))
}

/// One CSV row per step: `step,B,I,abs_I_plus_half,sum_norm,norm_1..norm_K` and, when every
/// step kept its cosine matrix, `cos_i_j` for each pair `i < j` (1-based). Empty cells
/// where a value is undefined or beyond the float range.
pub fn trajectory_csv(steps: &[Diagnosis]) -> String {
    let mut out = String::from("step,B,I,abs_I_plus_half,sum_norm");
    let Some(first) = steps.first() else {
        out.push('\n');
        return out;
    };
    let k = first.k;
    for i in 1..=k {
        let _ = write!(out, ",norm_{i}");
    }
    let with_cos = steps.iter().all(|d| d.cosines.is_some());
    if with_cos {
        for i in 1..=k {
            for j in i + 1..=k {
                let _ = write!(out, ",cos_{i}_{j}");
            }
        }
    }
    out.push('\n');
    for (t, d) in steps.iter().enumerate() {
        let _ = write!(
            out,
            "{t},{},{},{},{}",
            csv_num(d.b),
            csv_num(d.interaction),
            csv_num(d.abs_i_plus_half),
            csv_num(Some(d.sum_norm))
        );
        for &x in &d.gradient_norms {
            let _ = write!(out, ",{}", csv_num(Some(x)));
        }
        if let (true, Some(c)) = (with_cos, &d.cosines) {
            for (i, row) in c.iter().enumerate() {
                for &x in &row[i + 1..] {
                    let _ = write!(out, ",{}", csv_num(x));
                }
            }
        }
        out.push('\n');
    }
    out
}
