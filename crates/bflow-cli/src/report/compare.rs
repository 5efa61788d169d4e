//! Text, Markdown and JSON for a [`CompareReport`].
//!
//! The Markdown ([`compare_markdown`]) is what the README's "How the methods compare"
//! section is generated from (`bflow compare --suite --markdown PATH`).

use std::fmt::Write as _;

use serde_json::Value;

use crate::experiment::compare::{CompareReport, PeerRatio, RunRecord};

/// The report as JSON: `budget`, `floor_steps`, `runs` (every [`RunRecord`] field) and
/// `verdicts` (`id`, `claim`, `verdict` {`verdict`, `condition`}, `evidence`). Non-finite
/// numbers are `null`.
pub fn compare_json(rep: &CompareReport) -> Value {
    serde_json::to_value(rep).unwrap_or(Value::Null)
}

fn configs_of(rep: &CompareReport) -> Vec<&str> {
    let mut v: Vec<&str> = Vec::new();
    for r in &rep.runs {
        if !v.contains(&r.config.as_str()) {
            v.push(&r.config);
        }
    }
    v
}

fn problems_of(rep: &CompareReport) -> Vec<&str> {
    let mut v: Vec<&str> = Vec::new();
    for r in &rep.runs {
        if !v.contains(&r.problem.as_str()) {
            v.push(&r.problem);
        }
    }
    v
}

fn find<'a>(rep: &'a CompareReport, p: &str, c: &str) -> Option<&'a RunRecord> {
    rep.runs.iter().find(|r| r.problem == p && r.config == c)
}

/// A cell: work to the floor, `*` marking the fewest on the row; otherwise `||s||/floor`.
fn cell(r: &RunRecord, best: Option<u64>) -> String {
    match r.evaluations_to_floor {
        Some(e) if r.floor_reached => {
            let mark = if Some(e) == best { "*" } else { "" };
            format!("{e}{mark}")
        }
        Some(e) => format!("({e})"),
        None => {
            let ratio = r.sum_norm / r.floor.max(f64::MIN_POSITIVE);
            if r.stop == "non-finite" {
                "diverged".into()
            } else if r.stop == "degenerate" {
                "Q=0".into()
            } else if ratio.is_finite() {
                format!("×{ratio:.0e}")
            } else {
                "—".into()
            }
        }
    }
}

fn best_of(rep: &CompareReport, p: &str) -> Option<u64> {
    rep.runs
        .iter()
        .filter(|r| r.problem == p && r.floor_reached)
        .filter_map(|r| r.evaluations_to_floor)
        .min()
}

/// Per class and configuration: problems where the floor was reached, and the median work
/// to it.
fn class_summary(rep: &CompareReport) -> Vec<(String, Vec<String>)> {
    let mut classes: Vec<&str> = Vec::new();
    for r in &rep.runs {
        if !classes.contains(&r.class.as_str()) {
            classes.push(&r.class);
        }
    }
    classes
        .iter()
        .map(|class| {
            let cells = configs_of(rep)
                .iter()
                .map(|c| {
                    let runs: Vec<&RunRecord> = rep
                        .runs
                        .iter()
                        .filter(|r| r.class == *class && r.config == *c)
                        .collect();
                    let mut work: Vec<u64> = runs
                        .iter()
                        .filter(|r| r.floor_reached)
                        .filter_map(|r| r.evaluations_to_floor)
                        .collect();
                    work.sort_unstable();
                    let median = work
                        .get(work.len() / 2)
                        .map_or("—".into(), |m| m.to_string());
                    format!("{}/{} ({median})", work.len(), runs.len())
                })
                .collect();
            (class.to_string(), cells)
        })
        .collect()
}

/// Human-readable tables: work to the floor per problem × configuration, and the verdicts.
pub fn compare_text(rep: &CompareReport) -> String {
    let mut out = String::new();
    let configs = configs_of(rep);
    let _ = writeln!(
        out,
        "budget {} gradient-equivalents per run (1 HVP = 2 gradients, line-search trials \
         counted); cells: work to the floor (* fewest), (n) floor reached then lost, \
         ×r final ||s|| / floor",
        rep.budget
    );
    let _ = write!(out, "{:<18}", "problem");
    for c in &configs {
        let _ = write!(out, " {:>17}", c);
    }
    out.push('\n');
    for p in problems_of(rep) {
        let best = best_of(rep, p);
        let _ = write!(out, "{p:<18}");
        for c in &configs {
            let text = find(rep, p, c).map_or("".into(), |r| cell(r, best));
            let _ = write!(out, " {text:>17}");
        }
        out.push('\n');
    }
    out.push('\n');
    for v in &rep.verdicts {
        let _ = writeln!(
            out,
            "claim {}: {}\n  verdict: {}\n  evidence: {}",
            v.id, v.claim, v.verdict, v.evidence
        );
    }
    out
}

/// The README section (between `<!-- compare:begin -->` and `<!-- compare:end -->`).
pub fn compare_markdown(rep: &CompareReport) -> String {
    let mut out = String::new();
    let configs = configs_of(rep);
    let total_seconds: f64 = rep.runs.iter().map(|r| r.seconds).sum();
    let _ = writeln!(
        out,
        "Generated by `bflow compare --suite --markdown PATH` (release build; {} runs, {:.1} s of \
         flow time). Every configuration gets the same budget of **{} gradient-equivalents** \
         (one gradient of one objective = 1, one HVP = 2, every line-search trial counted) and \
         stops once `||s||` has stayed at the floating-point floor `4 ε Σ||g_i||` for {} \
         iterates. Fixed steps are the seed's (η_B = 0.5, η_L = 0.01 / c). The random \
         quadratics share one eigenbasis per problem (their A_i commute, so κ(Σ A_i) is exactly \
         the κ in the name): verdicts about κ are drawn from that class. Distances are to \
         equilibria refined with double-double residuals.\n",
        rep.runs.len(),
        total_seconds,
        rep.budget,
        rep.floor_steps
    );
    let _ = writeln!(out, "### Verdicts on the seed's claims\n");
    let _ = writeln!(out, "| # | claim | verdict | measured |");
    let _ = writeln!(out, "|---|---|---|---|");
    for v in &rep.verdicts {
        let _ = writeln!(
            out,
            "| {} | {} | **{}** | {} |",
            v.id,
            v.claim.replace('|', "\\|"),
            v.verdict.to_string().replace('|', "\\|"),
            v.evidence.replace('|', "\\|")
        );
    }
    let _ = writeln!(
        out,
        "\n### By problem class\n\nCell: problems where the floor was reached / problems \
         (median gradient-equivalents to the floor).\n"
    );
    let _ = write!(out, "| class |");
    for c in &configs {
        let _ = write!(out, " {c} |");
    }
    let _ = write!(out, "\n|---|");
    for _ in &configs {
        out.push_str("---|");
    }
    out.push('\n');
    for (class, cells) in class_summary(rep) {
        let _ = write!(out, "| {class} |");
        for c in cells {
            let _ = write!(out, " {c} |");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n### Every run\n\nCell: gradient-equivalents to the floor (**bold**: fewest on the \
         row); otherwise the final `||s||` as a multiple of the floor, `diverged` (non-finite) \
         or `Q=0` (stopped where B is undefined).\n"
    );
    let _ = write!(out, "| problem |");
    for c in &configs {
        let _ = write!(out, " {c} |");
    }
    let _ = write!(out, "\n|---|");
    for _ in &configs {
        out.push_str("---:|");
    }
    out.push('\n');
    for p in problems_of(rep) {
        let best = best_of(rep, p);
        let _ = write!(out, "| {p} |");
        for c in &configs {
            let text = find(rep, p, c).map_or(String::new(), |r| {
                let t = cell(r, best);
                match t.strip_suffix('*') {
                    Some(v) => format!("**{v}**"),
                    None => t,
                }
            });
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    out
}

/// The peer comparison as a table: per problem and peer, floor reached and the ratios of work
/// and time (peer / bflow's fastest configuration).
pub fn peers_text(ratios: &[PeerRatio]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:<20} {:<18} {:>7} {:>11} {:>11}",
        "problem", "bflow best", "peer", "floors", "work ratio", "time ratio"
    );
    for r in ratios {
        let yn = |b: bool| if b { "y" } else { "n" };
        let _ = writeln!(
            out,
            "{:<18} {:<20} {:<18} {:>7} {:>11.2} {:>11.2}",
            r.problem,
            r.bflow_config,
            r.peer,
            format!("{}/{}", yn(r.floor_reached.0), yn(r.floor_reached.1)),
            r.work_ratio,
            r.time_ratio
        );
    }
    out.push_str("(ratios are peer / bflow; > 1 means bflow used less)\n");
    out
}
