//! Reports: human tables and machine JSON for runs and experiments.
//!
//! JSON numbers are `f64`; a NaN or infinite value, and a figure that does not exist
//! (distance where no equilibrium is known, B where it is degenerate), is `null`.

pub mod compare;
pub mod compare_plot;
pub mod diagnose;
pub mod landscape;
pub mod plot;
pub mod raster;

pub use compare::{compare_json, compare_markdown, compare_text, peers_text};
pub use compare_plot::{PlotMetric, compare_svg};

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::experiment::{Agreement, ExperimentRun, ReproduceReport};
use bflow::flow::RunReport;
use bflow::real::Real;

/// A run report as JSON (the library's serialisation of [`RunReport`]): `distance`, `B`,
/// `I`, `abs_I_plus_half`, `total_loss`, `steps`, `sum_norm`, `floor`, `floor_reached`,
/// `stop`, `theta`, `evaluations` and more.
pub fn run_json<F: Real>(r: &RunReport<F>) -> Value {
    serde_json::to_value(r).unwrap_or(Value::Null)
}

/// The final report of one run, as lines of text.
pub fn run_text<F: Real>(r: &RunReport<F>) -> String {
    let mut out = String::new();
    let o = &mut out;
    let _ = writeln!(
        o,
        "method        {} ({}), step rule {}",
        r.method_name(),
        F::NAME,
        r.rule_name()
    );
    let _ = writeln!(o, "stopped       {} after {} steps", r.stop, r.steps);
    let _ = writeln!(
        o,
        "evaluations   {} gradients, {} HVPs, {} losses ({} gradient-equivalents)",
        r.counts.gradients,
        r.counts.hvps,
        r.counts.losses,
        r.counts.gradient_equivalents()
    );
    if r.linear_iterations > 0 {
        let _ = writeln!(o, "inner         {} MINRES iterations", r.linear_iterations);
    }
    if let Some(e) = r.evaluations_to_floor {
        let _ = writeln!(o, "to the floor  {e} gradient-equivalents");
    }
    let _ = writeln!(o, "θ             {}", fmt_point(&r.theta));
    let _ = writeln!(o, "B             {}", fmt_opt(r.b));
    let _ = writeln!(
        o,
        "I             {}",
        r.interaction
            .map_or("undefined (Q = 0)".into(), |i| format!("{i:.15}"))
    );
    let _ = writeln!(o, "|I + 1/2|     {}", fmt_opt(r.abs_i_plus_half));
    o.push_str(&floor_line(r.sum_norm, r.floor, r.floor_reached));
    let _ = writeln!(o, "Σ L_i         {}", fmt_num(r.total_loss));
    o.push_str(&distance_line(r.distance));
    if let Some(k) = r.switched_at {
        let _ = writeln!(o, "switched      to B-flow at step {k}");
    }
    out
}

/// A point for text reports: every entry for n ≤ 8, else the first six and the count.
/// The `||s||` line of a text report, against the floor estimate.
fn floor_line<F: Real>(sum_norm: F, floor: F, reached: bool) -> String {
    format!(
        "||s||         {sum_norm:.3e}   (floor ε·Σ||g_i|| = {floor:.3e}: {})\n",
        if reached { "reached" } else { "not reached" }
    )
}

/// The distance line of a text report (empty where no equilibrium is known).
fn distance_line<F: Real>(distance: Option<F>) -> String {
    distance.map_or_else(String::new, |d| {
        format!("distance      {d:.3e} to the nearest known equilibrium\n")
    })
}

/// A number for text reports: fixed notation for moderate sizes, exponent notation for very
/// large or very small ones (a float near 1e300 would print 300 digits otherwise).
fn fmt_num<F: Real>(x: F) -> String {
    let a = x.abs();
    if x == F::zero() || (a >= F::lit(1e-4) && a < F::lit(1e6)) || !x.is_finite() {
        format!("{x:.10}")
    } else {
        format!("{x:.10e}")
    }
}

fn fmt_point<F: Real>(theta: &[F]) -> String {
    const SHOWN: usize = 6;
    let entries = |xs: &[F]| xs.iter().map(|&x| fmt_num(x)).collect::<Vec<_>>();
    if theta.len() <= 8 {
        format!("({})", entries(theta).join(", "))
    } else {
        format!(
            "({}, … {} more; --json has every entry)",
            entries(&theta[..SHOWN]).join(", "),
            theta.len() - SHOWN
        )
    }
}

fn fmt_opt<F: Real>(x: Option<F>) -> String {
    x.map_or_else(
        || "undefined (Q = 0: every gradient vanishes)".into(),
        |v| format!("{v:.3e}"),
    )
}

fn agreement_word(a: Agreement) -> &'static str {
    match a {
        Agreement::Agrees => "agrees",
        Agreement::BothAtFloor => "both at the floor",
        Agreement::Disagrees => "DISAGREES",
    }
}

/// `reproduce --json`: `{"experiments":[{"id":…,"bflow":{…},"lossflow":{…},"bflow_exact":{…},…}]}`.
pub fn reproduce_json(rep: &ReproduceReport) -> Value {
    let experiments: Vec<Value> = rep
        .experiments
        .iter()
        .map(|e| {
            let s = &e.setting;
            json!({
                "id": s.id,
                "problem": s.problem,
                "settings": {
                    "bflow": {"steps": s.bflow_steps, "step_size": s.bflow_step_size,
                              "gradient": "central differences of B, h = 1e-4"},
                    "lossflow": {"steps": s.lossflow_steps, "step_size": s.lossflow_step_size,
                                 "divisor": s.lossflow_divisor},
                },
                "bflow": run_json(&e.bflow),
                "lossflow": run_json(&e.lossflow),
                "bflow_exact": run_json(&e.bflow_exact),
                "bflow_ulp_sensitivity": e.bflow_ulp_sensitivity,
                "end_grad_b_norms": {
                    "bflow": e.end_grad_b_norms[0],
                    "lossflow": e.end_grad_b_norms[1],
                    "bflow_exact": e.end_grad_b_norms[2],
                },
                "ratio": e.ratio(),
                "seed_comparison": e.verdicts().iter().map(|v| json!({
                    "figure": v.figure,
                    "seed": v.seed.0,
                    "measured": v.measured,
                    "agreement": v.agreement,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "experiments": experiments })
}

fn floor_word<F: Real>(r: &RunReport<F>) -> &'static str {
    if r.floor_reached {
        "at floor"
    } else {
        "above floor"
    }
}

fn experiment_text(out: &mut String, e: &ExperimentRun) {
    let s = &e.setting;
    let _ = writeln!(
        out,
        "{} ({}): B-flow {} steps η = {}, ∇B by central differences (h = 1e-4); loss-flow {} steps η = {} / {}",
        s.id,
        s.problem,
        s.bflow_steps,
        s.bflow_step_size,
        s.lossflow_steps,
        s.lossflow_step_size,
        s.lossflow_divisor
    );
    let _ = writeln!(
        out,
        "  {:<26} {:>24} {:>24} {:>24}",
        "", "B-flow (seed)", "loss-flow (seed)", "B-flow (exact ∇B)"
    );
    let runs = [&e.bflow, &e.lossflow, &e.bflow_exact];
    let line = |label: &str, f: &dyn Fn(&RunReport<f64>) -> String| {
        let cells: Vec<String> = runs.iter().map(|r| format!("{:>24}", f(r))).collect();
        format!("  {label:<26} {}\n", cells.join(" "))
    };
    out.push_str(&line("steps (stop)", &|r| {
        format!("{} ({})", r.steps, r.stop.code())
    }));
    out.push_str(&line("final distance", &|r| {
        r.distance
            .map_or("— (none known)".into(), |d| format!("{d:.4e}"))
    }));
    out.push_str(&line("||s||  vs floor", &|r| {
        format!("{:.2e} {}", r.sum_norm, floor_word(r))
    }));
    out.push_str(&line("B", &|r| fmt_opt(r.b)));
    out.push_str(&line("I", &|r| {
        r.interaction
            .map_or("undefined".into(), |i| format!("{i:.15}"))
    }));
    out.push_str(&line("|I + 1/2| (= B/2)", &|r| fmt_opt(r.abs_i_plus_half)));
    out.push_str(&line("total loss", &|r| format!("{:.4}", r.total_loss)));
    out.push_str(&line("end point", &|r| {
        let t: Vec<String> = r.theta.iter().map(|x| format!("{x:.4}")).collect();
        format!("({})", t.join(", "))
    }));
    let grads: Vec<String> = e
        .end_grad_b_norms
        .iter()
        .map(|g| {
            format!(
                "{:>24}",
                g.map_or("undefined".into(), |x| format!("{x:.3e}"))
            )
        })
        .collect();
    let _ = writeln!(out, "  {:<26} {}", "||∇B|| (exact) at end", grads.join(" "));
    if e.bflow.distance.is_none() {
        out.push_str(&line("equilibrium?", &|r| {
            if r.is_equilibrium() {
                "yes (B ≤ √ε)".into()
            } else {
                format!("NO: B = {:.2} > 0", r.b.unwrap_or(f64::NAN))
            }
        }));
    }
    let _ = writeln!(
        out,
        "  B-flow (seed) end point moves by {:.3e} when the start moves by one ulp{}",
        e.bflow_ulp_sensitivity,
        if e.bflow_ulp_sensitivity > 1e-6 {
            ": the fixed-step run is chaotic, its end point is decided by rounding"
        } else {
            ""
        }
    );
    if let Some(r) = e.ratio() {
        let _ = writeln!(
            out,
            "  precision ratio (loss-flow / B-flow distance): {r:.3e}"
        );
    }
    let verdicts = e.verdicts();
    if !verdicts.is_empty() {
        let _ = writeln!(out, "  against the seed:");
        for v in verdicts {
            let _ = writeln!(
                out,
                "    {:<46} seed {:>20}   this run {:>22}   {}",
                v.figure,
                v.seed.0,
                format_like_seed(v.measured, v.seed.0),
                agreement_word(v.agreement)
            );
        }
    }
}

/// Prints `x` with as many digits as the seed gave, plus a few more, so the two can be read
/// side by side.
fn format_like_seed(x: f64, seed: &str) -> String {
    if seed.contains("0.5000000") || seed.contains("0.498") {
        format!("{x:.15}")
    } else if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e5) {
        format!("{x:.4e}")
    } else {
        format!("{x:.4}")
    }
}

/// The reproduction table: each experiment's three runs, then each seed figure beside this
/// run's with the verdict.
pub fn reproduce_text(rep: &ReproduceReport) -> String {
    let mut out = String::new();
    out.push_str("bflow reproduce: the seed's experiments under its exact settings (f64)\n\n");
    for e in &rep.experiments {
        experiment_text(&mut out, e);
        out.push('\n');
    }
    let disagreements: Vec<String> = rep
        .experiments
        .iter()
        .flat_map(|e| {
            e.verdicts()
                .into_iter()
                .filter(|v| v.agreement == Agreement::Disagrees)
                .map(move |v| {
                    format!(
                        "{} {}: seed {}, this run {}",
                        e.setting.id,
                        v.figure,
                        v.seed.0,
                        format_like_seed(v.measured, v.seed.0)
                    )
                })
        })
        .collect();
    if disagreements.is_empty() {
        out.push_str(
            "Every figure the seed printed agrees with this run to the seed's precision.\n",
        );
    } else {
        out.push_str("Where this run disagrees with the seed (both printed; this run's figures are measured):\n");
        for d in disagreements {
            let _ = writeln!(out, "  - {d}");
        }
    }
    out
}

/// An equilibrium map as JSON. Fields: `problem`, `starts` (N, all starts of the sequence),
/// `starts_mapped` (this shard's), `seed`, `shard` (`"I/N"` or null), `scale`,
/// `equilibria` (each: `point`, `kind` = `minimum|saddle|maximum|degenerate`,
/// `morse_index`, `eigenvalues`, `common_stationary`, `B` (null where Q = 0), `grad_norm` =
/// `||s||`, `certified_radius` (∞-norm box radius or null), `certified_unique_radius`,
/// `certificate_note` (why not certified, or null), `basin_share`, `basin_starts`,
/// `reached_by_lossflow`, `lossflow_starts`, `found_by_bflow`), `connections` (each index-1
/// saddle: `saddle`, `minima` = `[a, b]` (indices into `equilibria`, null for a side that
/// reached no mapped minimum), `barriers` = `[ΣL(saddle) − ΣL(a), ΣL(saddle) − ΣL(b)]`,
/// `outcomes`, `notes`, `ends`, `steps`, `eigenvalue`, `delta`), `spurious` (each: `point`,
/// `B`, `grad_B_norm`, `starts`), `escaped`, `diverged`, `unresolved`, `params` (the
/// settings), `per_start` (every start's record: what `bflow merge` rebuilds a map from) and
/// the timing field `seconds`.
pub fn map_json(m: &bflow::map::EquilibriumMap) -> Value {
    serde_json::to_value(m).unwrap_or(Value::Null)
}

/// What map reports show beside the library's map: the parameters' names and `Σ L` at each
/// equilibrium.
#[derive(Debug, Clone, PartialEq)]
pub struct MapContext {
    /// The parameters' names, in order (n of them).
    pub names: Vec<String>,
    /// `Σ_i L_i` at each equilibrium of the map, in the map's order.
    pub loss_sums: Vec<f64>,
}

impl MapContext {
    /// The names, and `Σ L` at every equilibrium of `map` (as the library computed it).
    pub fn new(names: Vec<String>, map: &bflow::map::EquilibriumMap) -> Self {
        let loss_sums = map.equilibria.iter().map(|e| e.loss_sum).collect();
        Self { names, loss_sums }
    }
}

/// `Σ_i L_i(θ)`, summed in objective order (NaN or infinite where a loss is).
pub fn loss_sum(objectives: &dyn bflow::objectives::Objectives<f64>, theta: &[f64]) -> f64 {
    (0..objectives.num_objectives())
        .map(|i| objectives.loss(i, theta))
        .sum()
}

/// Default parameter names for problems that name none: `x`, `y`, `z` for n ≤ 3, else
/// `theta_1 … theta_n`.
pub fn default_names(n: usize) -> Vec<String> {
    if n <= 3 {
        ["x", "y", "z"][..n].iter().map(|s| s.to_string()).collect()
    } else {
        (1..=n).map(|j| format!("theta_{j}")).collect()
    }
}

/// `"1 minimum"`, `"2 minima"`: a count with the singular or plural noun.
pub fn count_noun(count: usize, singular: &str, plural: &str) -> String {
    format!("{count} {}", if count == 1 { singular } else { plural })
}

/// The equilibria counted by kind, every Morse index apart: `"9 equilibria: 4 minima,
/// 4 index-1 saddles, 1 maximum, 0 degenerate"`. Saddles of index `k = 1 … n−1` are listed
/// when there are some, or always for n ≤ 4.
pub fn kind_counts(m: &bflow::map::EquilibriumMap, n: usize) -> String {
    use bflow::map::Kind;
    let count = |pred: &dyn Fn(&bflow::map::Equilibrium) -> bool| {
        m.equilibria.iter().filter(|e| pred(e)).count()
    };
    let mut parts = vec![count_noun(
        count(&|e| e.classification.kind == Kind::Minimum),
        "minimum",
        "minima",
    )];
    for k in 1..n {
        let c =
            count(&|e| e.classification.kind == Kind::Saddle && e.classification.morse_index == k);
        if c > 0 || n <= 4 {
            parts.push(count_noun(
                c,
                &format!("index-{k} saddle"),
                &format!("index-{k} saddles"),
            ));
        }
    }
    // A saddle whose index is outside 1..n−1 cannot occur; count it rather than lose it.
    let odd = count(&|e| {
        e.classification.kind == Kind::Saddle && !(1..n).contains(&e.classification.morse_index)
    });
    if odd > 0 {
        parts.push(count_noun(odd, "other saddle", "other saddles"));
    }
    parts.push(count_noun(
        count(&|e| e.classification.kind == Kind::Maximum),
        "maximum",
        "maxima",
    ));
    parts.push(format!(
        "{} degenerate",
        count(&|e| e.classification.kind == Kind::Degenerate)
    ));
    format!(
        "{}: {}",
        count_noun(m.equilibria.len(), "equilibrium", "equilibria"),
        parts.join(", ")
    )
}

/// An equilibrium map as a text table: one row per equilibrium, a legend of the columns, the
/// counts by Morse index, then the spurious points and the starts that ended elsewhere.
pub fn map_text(m: &bflow::map::EquilibriumMap, ctx: &MapContext) -> String {
    let mut out = String::new();
    let shard = m.params.shard.map_or(String::new(), |s| {
        format!(", shard {}/{}", s.index, s.count)
    });
    let _ = writeln!(
        out,
        "problem {}: {} mapped of {} (seed {}{shard}), {:.2} s",
        m.problem,
        count_noun(m.starts_mapped, "start", "starts"),
        m.completeness.starts_used,
        m.params.seed,
        m.seconds
    );
    let n = ctx.names.len();
    let point_header = if n <= 8 {
        format!("point ({})", ctx.names.join(", "))
    } else {
        "point".to_string()
    };
    let points: Vec<String> = m
        .equilibria
        .iter()
        .map(|e| {
            let coords: Vec<String> = e.point.iter().map(|x| format!("{x:.6}")).collect();
            format!("({})", coords.join(", "))
        })
        .collect();
    let width = points
        .iter()
        .map(|p| p.chars().count())
        .chain([point_header.chars().count(), 30])
        .max()
        .unwrap_or(30);
    let _ = writeln!(
        out,
        "{:>3}  {:<width$} {:<10} {:>5} {:>6} {:>11} {:>10} {:>10} {:>10} {:>7} {:>8}",
        "#",
        point_header,
        "kind",
        "morse",
        "common",
        "ΣL",
        "B",
        "‖s‖",
        "cert r",
        "basin",
        "lossflow"
    );
    for (k, e) in m.equilibria.iter().enumerate() {
        let loss = ctx.loss_sums.get(k).copied().unwrap_or(f64::NAN);
        let _ = writeln!(
            out,
            "{:>3}  {:<width$} {:<10} {:>5} {:>6} {:>11} {:>10} {:>10.2e} {:>10} {:>6.1}% {:>8}",
            k + 1,
            points[k],
            e.classification.kind.name(),
            e.classification.morse_index,
            if e.common_stationary { "yes" } else { "no" },
            raster::short_number(loss),
            e.b.map_or("undef".to_string(), |b| format!("{b:.2e}")),
            e.grad_norm,
            e.certificate
                .radius
                .map_or("none".to_string(), |r| format!("{r:.1e}")),
            100.0 * e.basin_share,
            if e.hits_by(bflow::map::Searcher::Lossflow) > 0 {
                "yes"
            } else {
                "no"
            },
        );
    }
    if !m.equilibria.is_empty() {
        out.push_str(MAP_COLUMNS);
    }
    let certified = m
        .equilibria
        .iter()
        .filter(|e| e.certificate.radius.is_some())
        .count();
    let _ = writeln!(out, "{}; {certified} certified", kind_counts(m, n));
    out.push_str(&connections_text(m, ctx, MAX_CONNECTION_LINES));
    for s in &m.spurious {
        let _ = writeln!(
            out,
            "spurious (B > 0, not an equilibrium): {:?}  B = {:.3e}  ({})",
            s.point,
            s.b,
            count_noun(s.starts, "start", "starts")
        );
    }
    let _ = writeln!(
        out,
        "escaped {}, diverged {}, unresolved {}",
        m.escaped(),
        m.diverged(),
        m.unresolved()
    );
    out.push_str(&completeness_text(m));
    out
}

/// The three layers of a map's completeness, one line each.
pub fn completeness_text(m: &bflow::map::EquilibriumMap) -> String {
    use bflow::map::completeness::ProofStatus;
    let c = &m.completeness;
    let e = &c.estimate;
    let mut out = String::new();
    let why = match c.stopped.as_str() {
        "complete" => {
            "the estimate fell below ½, its 95% bound below the equilibria found, and the last \
             half of the starts found nothing new"
        }
        "fixed" => "a fixed number of starts",
        "max-starts" => "the start budget (--max-starts) ran out",
        "time-limit" => "the time limit (--max-time) ran out",
        "interrupted" => "interrupted",
        other => other,
    };
    let _ = writeln!(
        out,
        "completeness  statistical: {} hits over {} ({} once, {} twice); estimated unfound {} \
         (95% bound {}); {} rounds, {} ({why})",
        e.hits,
        count_noun(e.found, "equilibrium", "equilibria"),
        e.singletons,
        e.doubletons,
        fmt_estimate(e.estimate_unfound),
        fmt_estimate(e.estimate_unfound_upper),
        c.rounds,
        count_noun(c.starts_used, "start", "starts"),
    );
    if c.mode_searches > 0 {
        let found = match c.mode_found {
            0 => "nothing the starts had not".to_string(),
            k => format!(
                "{} no start reached",
                count_noun(k, "equilibrium", "equilibria")
            ),
        };
        let _ = writeln!(
            out,
            "              mode starts: {} Newton searches from the equilibria along their \
             Hessians' eigenvectors found {found}{}",
            c.mode_searches,
            if c.mode_budget_spent {
                " — then stopped at their budget (the passes from what the first found had \
                 more starts than the first pass's searches: the starts likely missed much of \
                 the set; run more starts or add --prove)"
            } else {
                ""
            }
        );
    }
    match (&c.degree, &c.degree_note) {
        (Some(d), _) if d.proves_incomplete() => {
            let _ = writeln!(
                out,
                "              topological: INCOMPLETE — the degree of s on the boundary is {} but \
                 Σ sign det J over the equilibria found is {}: some are missing",
                d.boundary, d.sum_sign_det
            );
        }
        (Some(d), _) if d.degenerate > 0 => {
            let _ = writeln!(
                out,
                "              topological: degree {} on the boundary, Σ sign det J = {} over \
                 the nondegenerate ones ({} degenerate: no conclusion)",
                d.boundary, d.sum_sign_det, d.degenerate
            );
        }
        (Some(d), _) => {
            let _ = writeln!(
                out,
                "              topological: degree {} on the boundary = Σ sign det J {} over the \
                 equilibria found (consistent; a match does not prove completeness)",
                d.boundary, d.sum_sign_det
            );
        }
        (None, note) => {
            let _ = writeln!(
                out,
                "              topological: no rigorous degree ({})",
                note.as_deref().unwrap_or("not computed")
            );
        }
    }
    let p = &c.proof;
    let _ = match p.status {
        ProofStatus::Proven if p.missed.is_empty() => writeln!(
            out,
            "              proof: PROVEN COMPLETE — every box of the region holds no equilibrium \
             or exactly one of those listed ({} boxes, {:.2} s)",
            p.boxes_processed, p.seconds
        ),
        ProofStatus::Proven => writeln!(
            out,
            "              proof: proven complete after adding {} the searches missed \
             ({} boxes, {:.2} s)",
            count_noun(p.missed.len(), "equilibrium", "equilibria"),
            p.boxes_processed,
            p.seconds
        ),
        ProofStatus::NotProven => writeln!(
            out,
            "              proof: NOT PROVEN — {} unresolved, {:.3e} of the region's volume \
             ({}; {} added)",
            count_noun(p.boxes_unresolved, "box", "boxes"),
            p.unresolved_volume_fraction,
            p.reason.as_deref().unwrap_or("budget"),
            p.missed.len()
        ),
        ProofStatus::NotRun => writeln!(
            out,
            "              proof: not run ({})",
            p.reason
                .as_deref()
                .map(|r| if r == "the proof was not requested" {
                    "add --prove"
                } else {
                    r
                })
                .unwrap_or("add --prove")
        ),
    };
    out
}

fn fmt_estimate(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}")
    } else {
        "unbounded".into()
    }
}

/// [`map_text`] lists this many connections; the rest are counted.
pub const MAX_CONNECTION_LINES: usize = 20;

/// What a path from a saddle that reached no mapped minimum did, in words.
fn path_end_words(end: bflow::map::PathEnd) -> &'static str {
    use bflow::map::PathEnd;
    match end {
        PathEnd::Minimum => "reaches a minimum",
        PathEnd::LeftRegion => "leaves the region",
        PathEnd::Diverged => "diverges",
        PathEnd::Unresolved => "does not settle",
        PathEnd::NotAMinimum => "ends at an equilibrium that is not a minimum",
        PathEnd::Unmapped => "ends at an equilibrium the map does not list",
    }
}

/// The connections of a map as lines of text, numbered as the table (`#k`): `saddle #4 joins
/// minima #1 and #3; barriers 106.03 and 40.103`, a side that reached no mapped minimum
/// written `–` with what its path did. The first `max_lines` connections, then a count of the
/// rest; nothing when the map has no index-1 saddle.
pub fn connections_text(
    m: &bflow::map::EquilibriumMap,
    ctx: &MapContext,
    max_lines: usize,
) -> String {
    let mut out = String::new();
    if m.connections.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "connections (steepest descent on Σ L from each index-1 saddle, both ways along its \
         unstable eigenvector; barrier = ΣL(saddle) − ΣL(minimum)):"
    );
    let loss = |k: usize| ctx.loss_sums.get(k).copied().unwrap_or(f64::NAN);
    for c in m.connections.iter().take(max_lines) {
        let name =
            |side: usize| c.minima[side].map_or("–".to_string(), |k| format!("#{}", k + 1));
        let barriers: Vec<String> = c
            .barriers
            .iter()
            .flatten()
            .map(|&b| raster::short_number(b))
            .collect();
        let barriers = match barriers.len() {
            0 => String::new(),
            1 => format!("; barrier {}", barriers[0]),
            _ => format!("; barriers {} and {}", barriers[0], barriers[1]),
        };
        let open: Vec<&str> = (0..2)
            .filter(|&side| c.minima[side].is_none())
            .map(|side| path_end_words(c.outcomes[side]))
            .collect();
        let open = match open.as_slice() {
            [] => String::new(),
            [one] if c.minima.iter().any(Option::is_some) => format!(" (the other path {one})"),
            [one] => format!(" (one path {one})"),
            [a, b] if a == b => format!(" (both paths {a})"),
            [a, b] => format!(" (one path {a}, the other {b})"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  saddle #{} (ΣL {}) joins minima {} and {}{open}{barriers}",
            c.saddle + 1,
            raster::short_number(loss(c.saddle)),
            name(0),
            name(1)
        );
    }
    if m.connections.len() > max_lines {
        let _ = writeln!(
            out,
            "  … and {} more (every connection is in --json and --connections-csv)",
            m.connections.len() - max_lines
        );
    }
    out
}

/// The connections of a map as CSV, one row per index-1 saddle: `saddle`, `minimum_1`,
/// `minimum_2` (numbered as the table's `#`, empty where a side reached no mapped minimum),
/// `barrier_1`, `barrier_2` (`ΣL(saddle) − ΣL(minimum)`), `outcome_1`, `outcome_2`
/// (`minimum`, `left-region`, `diverged`, `unresolved`, `not-a-minimum`, `unmapped`).
pub fn connections_csv(m: &bflow::map::EquilibriumMap) -> String {
    let mut out =
        String::from("saddle,minimum_1,minimum_2,barrier_1,barrier_2,outcome_1,outcome_2\n");
    for c in &m.connections {
        let index = |k: Option<usize>| k.map_or(String::new(), |k| (k + 1).to_string());
        let barrier = |b: Option<f64>| b.map_or(String::new(), csv_number);
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            c.saddle + 1,
            index(c.minima[0]),
            index(c.minima[1]),
            barrier(c.barriers[0]),
            barrier(c.barriers[1]),
            c.outcomes[0].code(),
            c.outcomes[1].code()
        );
    }
    out
}

/// The legend under [`map_text`]'s table.
const MAP_COLUMNS: &str = "\
columns: morse   Morse index, the number of negative Hessian eigenvalues of Σ L (0: minimum)
         common  yes: every g_i vanishes there, so B is 0/0 (undef)
         ΣL      Σ L_i at the point
         B       balance residual ||Σ g_i||² / Σ ||g_i||²
         ‖s‖     ||Σ g_i|| at the polished point
         cert r  radius (∞-norm) of a box around the point proven (Krawczyk) to hold exactly
                 one equilibrium; none: not proven
         basin   share of the starts whose first search (newton by default) ended here
         lossflow yes: loss-flow (descent on Σ L) from some start also ended here
";

/// A number for CSV: the shortest text that reads back to the same `f64` (plain for
/// moderate sizes, exponent notation otherwise); empty for NaN or ±∞ (pandas reads NaN).
fn csv_number(x: f64) -> String {
    if !x.is_finite() {
        String::new()
    } else if x == 0.0 || (1e-4..1e15).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// An equilibrium map as CSV, one row per equilibrium: `equilibrium` (the table's `#`), one
/// column per parameter (its name; `var_NAME` where a name would repeat a fixed column),
/// `loss_sum` (Σ L), `morse_index`, `kind`, `eig_1 … eig_n` (Hessian eigenvalues of Σ L,
/// ascending), `certified_radius` (empty when not certified) and `basin_share`.
pub fn map_csv(m: &bflow::map::EquilibriumMap, ctx: &MapContext) -> String {
    let n = ctx.names.len();
    let mut fixed: Vec<String> = vec![
        "equilibrium".into(),
        "loss_sum".into(),
        "morse_index".into(),
        "kind".into(),
    ];
    fixed.extend((1..=n).map(|j| format!("eig_{j}")));
    fixed.extend(["certified_radius".into(), "basin_share".into()]);
    let coords: Vec<String> = ctx
        .names
        .iter()
        .map(|v| {
            if fixed.contains(v) {
                format!("var_{v}")
            } else {
                v.clone()
            }
        })
        .collect();
    let mut out = String::from("equilibrium");
    for c in &coords {
        let _ = write!(out, ",{c}");
    }
    out.push_str(",loss_sum,morse_index,kind");
    for j in 1..=n {
        let _ = write!(out, ",eig_{j}");
    }
    out.push_str(",certified_radius,basin_share\n");
    for (k, e) in m.equilibria.iter().enumerate() {
        let _ = write!(out, "{}", k + 1);
        for j in 0..n {
            let _ = write!(
                out,
                ",{}",
                csv_number(e.point.get(j).copied().unwrap_or(f64::NAN))
            );
        }
        let _ = write!(
            out,
            ",{},{},{}",
            csv_number(ctx.loss_sums.get(k).copied().unwrap_or(f64::NAN)),
            e.classification.morse_index,
            e.classification.kind.name()
        );
        for j in 0..n {
            let eig = e
                .classification
                .eigenvalues
                .get(j)
                .copied()
                .unwrap_or(f64::NAN);
            let _ = write!(out, ",{}", csv_number(eig));
        }
        let _ = writeln!(
            out,
            ",{},{}",
            e.certificate.radius.map_or(String::new(), csv_number),
            csv_number(e.basin_share)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bflow::map::{MapParams, PathEnd, map_equilibria};

    fn himmelblau() -> (bflow::map::EquilibriumMap, MapContext) {
        let p = bflow::problems::builtin::<f64>("himmelblau-split").unwrap();
        let map = map_equilibria(
            &p,
            &MapParams {
                starts: Some(96),
                ..MapParams::default()
            },
        )
        .unwrap();
        let ctx = MapContext::new(default_names(2), &map);
        (map, ctx)
    }

    #[test]
    fn connections_are_listed_numbered_as_the_table_and_cut_after_the_limit() {
        let (mut map, ctx) = himmelblau();
        assert_eq!(map.connections.len(), 4);
        let all = connections_text(&map, &ctx, 20);
        assert_eq!(all.lines().count(), 5, "{all}");
        let c = &map.connections[0];
        let [Some(a), Some(b)] = c.minima else {
            panic!("{c:?}")
        };
        let first = all.lines().nth(1).unwrap();
        assert!(
            first.starts_with(&format!("  saddle #{} (ΣL ", c.saddle + 1))
                && first.contains(&format!(
                    "joins minima #{} and #{}; barriers ",
                    a + 1,
                    b + 1
                )),
            "{first}"
        );
        let cut = connections_text(&map, &ctx, 2);
        assert_eq!(cut.lines().count(), 4, "{cut}");
        assert!(
            cut.lines().last().unwrap().contains("… and 2 more"),
            "{cut}"
        );
        // Open sides say what their path did, and carry no barrier.
        map.connections[0].minima = [Some(a), None];
        map.connections[0].barriers[1] = None;
        map.connections[0].outcomes[1] = PathEnd::LeftRegion;
        map.connections[1].minima = [None, None];
        map.connections[1].barriers = [None, None];
        map.connections[1].outcomes = [PathEnd::Unresolved, PathEnd::Unmapped];
        let text = connections_text(&map, &ctx, 20);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].contains("and – (the other path leaves the region); barrier "),
            "{text}"
        );
        assert!(
            lines[2].ends_with(
                "joins minima – and – (one path does not settle, the other ends at an \
                 equilibrium the map does not list)"
            ),
            "{text}"
        );
        let csv = connections_csv(&map);
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows.len(), 5);
        assert!(rows[1].ends_with(",,minimum,left-region"), "{csv}");
        assert!(rows[2].ends_with(",,,,,unresolved,unmapped"), "{csv}");
    }

    #[test]
    fn a_map_without_index_one_saddles_lists_no_connections() {
        let p = bflow::problems::builtin::<f64>("e2").unwrap();
        let map = map_equilibria(
            &p,
            &MapParams {
                starts: Some(8),
                ..MapParams::default()
            },
        )
        .unwrap();
        assert!(map.connections.is_empty());
        let ctx = MapContext::new(default_names(p.dim()), &map);
        assert_eq!(connections_text(&map, &ctx, 20), "");
        assert!(!map_text(&map, &ctx).contains("connections"));
    }
}
