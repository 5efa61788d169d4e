//! `bflow bench map`: the wall time of bflow's adaptive default map to its complete set of
//! equilibria, and the same for scipy's multi-start (`peers/peers.py map`).
//!
//! Each repeat `r` maps the problem with [`MapParams::default`] and the seed `S + r` (so
//! repeats differ in their Halton points, not only in timing noise) and times
//! `Mapper::new` to `Mapper::finish` (classification included). The peer gets, per repeat,
//! the seed and the equilibria bflow's map of that repeat found, and stops the moment it holds
//! as many distinct roots as that map and every one of bflow's equilibria is matched (it
//! cannot know by itself when it is done). With the peer, the two run seed by seed: bflow's
//! map of a seed, then scipy's run of it, then the next seed — so both are timed on the
//! machine as it is at that moment (a shared machine's speed drifts by tens of percent over
//! seconds; timing all of bflow's repeats in a few milliseconds and then scipy's over
//! seconds measured the drift as much as the ratio). Figures are medians over the repeats: seconds the
//! mean of the two middle values for an even count, starts and counts the lower middle.
//! Each map also records what the process's threads did meanwhile (Linux: their CPU time and
//! their time ready to run but waiting for a CPU, [`sample_threads`]), which tells whether a
//! two-thread map had its two CPUs.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use bflow::error::{Error, Result};
use bflow::map::{MapControl, MapParams, Mapper};
use bflow::objectives::{Expr, ProblemFile};
use bflow::problems::Problem;

/// One bflow map, timed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapRun {
    /// The Halton seed.
    pub seed: u64,
    /// Wall-clock seconds from `Mapper::new` to `Mapper::finish`.
    pub seconds: f64,
    /// Starts the adaptive map used.
    pub starts: usize,
    /// Distinct equilibria found.
    pub found: usize,
    /// Why the map stopped (`"complete"`, `"max-starts"`, …).
    pub stopped: String,
    /// The equilibria's points (not in the JSON: the peer's input carries them).
    #[serde(skip)]
    pub equilibria: Vec<Vec<f64>>,
    /// What the process's threads did during the map (`null` where the OS does not say).
    pub thread_times: Option<ThreadTimes>,
}

/// Time summed over a process's threads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ThreadTimes {
    /// Seconds on a CPU.
    pub cpu: f64,
    /// Seconds ready to run but waiting for a CPU (on a run queue).
    pub waiting: f64,
}

/// Each thread's counters at one moment: thread id → (nanoseconds on a CPU, nanoseconds
/// waiting on a run queue), as Linux's `/proc/self/task/*/schedstat` gives them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ThreadSample(BTreeMap<u64, (u64, u64)>);

impl ThreadSample {
    /// What the threads did since `earlier`: each thread's counters less its counters then
    /// (all of them for a thread started since). A thread that ended in between is left out,
    /// so the figures never go down when threads come and go.
    pub fn since(&self, earlier: &ThreadSample) -> ThreadTimes {
        let (mut cpu, mut waiting) = (0u64, 0u64);
        for (tid, &(run, wait)) in &self.0 {
            let (run0, wait0) = earlier.0.get(tid).copied().unwrap_or((0, 0));
            cpu += run.saturating_sub(run0);
            waiting += wait.saturating_sub(wait0);
        }
        ThreadTimes {
            cpu: cpu as f64 / 1e9,
            waiting: waiting as f64 / 1e9,
        }
    }
}

/// The process's threads' counters now ([`ThreadSample`]); `None` where there is no
/// `/proc/self/task` (another OS) or every counter reads 0 (a kernel that keeps none). A
/// thread that ends while it is read is left out. The calling thread yields first: a
/// running thread's CPU time is brought up to date only when it is switched out or at a
/// timer tick (4 ms here, a third of a 3-D map), and the caller is running at both ends of
/// a map.
///
/// Why: with two threads a map's wall time says nothing of whether both ran. On this
/// project's 2-vCPU virtual machine a map started after an idle pause often runs its two
/// worker threads on one vCPU, taking turns (the guest's scheduler wakes the second onto
/// the busy one); the waiting time shows it.
pub fn sample_threads() -> Option<ThreadSample> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    std::thread::yield_now();
    let mut sample = ThreadSample::default();
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        let mut fields = text.split_whitespace().map(str::parse::<u64>);
        if let (Some(Ok(run)), Some(Ok(wait))) = (fields.next(), fields.next()) {
            sample.0.insert(tid, (run, wait));
        }
    }
    sample.0.values().any(|&(run, _)| run > 0).then_some(sample)
}

/// Maps `problem` once with [`MapParams::default`] and `seed`, timed, with what the process's
/// threads did meanwhile ([`sample_threads`]).
///
/// # Errors
/// As [`Mapper::new`], [`Mapper::run`] and [`Mapper::finish`] (a problem without a region,
/// say).
pub fn map_once(problem: &Problem<f64>, seed: u64) -> Result<MapRun> {
    let params = MapParams {
        seed,
        ..MapParams::default()
    };
    let before = sample_threads();
    let t = Instant::now();
    let mut mapper = Mapper::new(problem, &params)?;
    mapper.run(&mut MapControl {
        max_time: None,
        keep_records: false,
        progress: &|_, _| {},
        on_record: &mut |_| ControlFlow::Continue(()),
        on_batch: &mut |_| ControlFlow::Continue(()),
    })?;
    let map = mapper.finish()?;
    let seconds = t.elapsed().as_secs_f64();
    let thread_times = before.zip(sample_threads()).map(|(a, b)| b.since(&a));
    Ok(MapRun {
        seed,
        seconds,
        starts: map.completeness.starts_used,
        found: map.equilibria.len(),
        stopped: map.completeness.stopped.clone(),
        equilibria: map.equilibria.iter().map(|e| e.point.clone()).collect(),
        thread_times,
    })
}

/// One peer run, as `peers.py map` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PeerMapRun {
    /// The seed of its scrambled Halton starts.
    pub seed: u64,
    /// Starts used.
    pub starts: usize,
    /// Wall-clock seconds (setting up the functions not counted).
    pub seconds: f64,
    /// Distinct roots found in the region.
    pub found: usize,
    /// bflow's equilibria matched by one of them.
    pub matched: usize,
    /// Whether it reached bflow's complete set.
    pub complete: bool,
    /// Why it stopped: `"complete"`, `"max-starts"` or `"time-limit"`.
    pub stop: String,
}

/// The limits and matching tolerance of the peer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PeerLimits {
    /// The most starts per run.
    pub max_starts: usize,
    /// The most seconds per run.
    pub max_seconds: f64,
    /// Roots closer than this (max norm) are one; 1e-6 × the region's largest side.
    pub tolerance: f64,
}

/// An expression tree as the JSON `peers.py map` reads (see its header): `["const", c]`,
/// `["var", j]`, `["neg", a]`, `["add", a, b]`, …, `["call", name, a]`.
pub fn expr_json(e: &Expr) -> Value {
    match e {
        Expr::Const(c) => json!(["const", c]),
        Expr::Var(j) => json!(["var", j]),
        Expr::Neg(a) => json!(["neg", expr_json(a)]),
        Expr::Add(a, b) => json!(["add", expr_json(a), expr_json(b)]),
        Expr::Sub(a, b) => json!(["sub", expr_json(a), expr_json(b)]),
        Expr::Mul(a, b) => json!(["mul", expr_json(a), expr_json(b)]),
        Expr::Div(a, b) => json!(["div", expr_json(a), expr_json(b)]),
        Expr::PowI(a, n) => json!(["powi", expr_json(a), n]),
        Expr::PowF(a, p) => json!(["powf", expr_json(a), p]),
        Expr::Call(f, a) => json!(["call", f.name(), expr_json(a)]),
    }
}

/// The peer's first input line (see `peers.py`'s `map` header): the file's objectives as
/// trees, its region and the limits. The runs follow one per line ([`peer_run`]).
///
/// # Errors
/// [`Error::InvalidParameter`] (`"region"`) when the file has no region.
pub fn peers_input(file: &ProblemFile, limits: &PeerLimits) -> Result<Value> {
    let region = file
        .region
        .as_ref()
        .ok_or_else(|| Error::InvalidParameter {
            name: "region".into(),
            reason: "the problem file has no [region] to draw starts from".into(),
        })?;
    Ok(json!({
        "name": file.name,
        "vars": file.objectives.vars,
        "objectives": file.objectives.exprs.iter().map(expr_json).collect::<Vec<_>>(),
        "exprs": file.objectives.exprs.iter()
            .map(|e| e.display(file.objectives.vars.as_slice()).to_string())
            .collect::<Vec<_>>(),
        "region": region.iter().map(|&(lo, hi)| [lo, hi]).collect::<Vec<_>>(),
        "tolerance": limits.tolerance,
        "max_starts": limits.max_starts,
        "max_seconds": limits.max_seconds,
    }))
}

/// One run for the peer (a line after [`peers_input`]'s): bflow's seed and the equilibria its
/// map of that seed found, which scipy's run of the same seed must reach.
pub fn peer_run(run: &MapRun) -> Value {
    json!({"seed": run.seed, "equilibria": run.equilibria})
}

/// Parses one line of `peers.py map`'s output after its first: one run.
///
/// # Errors
/// [`Error::InvalidParameter`] (`"peers"`) when it is not the documented JSON.
pub fn parse_peer_run(line: &str) -> Result<PeerMapRun> {
    serde_json::from_str(line).map_err(|e| Error::InvalidParameter {
        name: "peers".into(),
        reason: format!("peers.py map output is not the expected JSON: {e}"),
    })
}

/// The median of `values`: the mean of the two middle ones for an even count (NaN when
/// empty).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// The lower median of counts (the middle one for an odd count; 0 when empty).
pub fn median_count(values: &[usize]) -> usize {
    let mut v = values.to_vec();
    v.sort_unstable();
    if v.is_empty() {
        0
    } else {
        v[(v.len() - 1) / 2]
    }
}

/// bflow's figures, medians over the repeats.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BflowSummary {
    /// Median seconds to finish.
    pub seconds: f64,
    /// Median starts used.
    pub starts: usize,
    /// Median equilibria found.
    pub found: usize,
    /// The most common stop reason (`"complete"` when every repeat was).
    pub stopped: String,
    /// Starts per second: median starts / median seconds.
    pub starts_per_second: f64,
    /// rayon worker threads the map ran on.
    pub threads: usize,
    /// Median seconds the process's threads spent on a CPU during a map (`null` where
    /// [`sample_threads`] is not available).
    pub cpu_seconds: Option<f64>,
    /// Median seconds they spent ready to run but waiting for a CPU.
    pub waiting_seconds: Option<f64>,
    /// Every repeat.
    pub runs: Vec<MapRun>,
}

/// scipy's figures, medians over the repeats.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerSummary {
    /// Median seconds (to the complete set, or to its cap).
    pub seconds: f64,
    /// Median starts used.
    pub starts: usize,
    /// Median distinct roots found.
    pub found: usize,
    /// Repeats that reached bflow's complete set.
    pub complete_runs: usize,
    /// Whether every repeat reached it.
    pub complete: bool,
    /// The limits it ran under.
    pub limits: PeerLimits,
    /// scipy seconds / bflow seconds (medians); a lower bound when not every repeat was
    /// complete.
    pub ratio: f64,
    /// Every repeat.
    pub runs: Vec<PeerMapRun>,
}

/// What `bench map` measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapBench {
    /// The problem's name.
    pub problem: String,
    /// Its dimension.
    pub n: usize,
    /// Its number of objectives.
    pub k: usize,
    /// Repeats.
    pub repeats: usize,
    /// The first seed (repeat r uses seed + r).
    pub seed: u64,
    /// bflow's adaptive default map.
    pub bflow: BflowSummary,
    /// scipy's multi-start (with --peers).
    pub scipy: Option<PeerSummary>,
}

/// Summarises bflow's runs.
pub fn summarise_bflow(runs: Vec<MapRun>) -> BflowSummary {
    let seconds = median(&runs.iter().map(|r| r.seconds).collect::<Vec<_>>());
    let starts = median_count(&runs.iter().map(|r| r.starts).collect::<Vec<_>>());
    let found = median_count(&runs.iter().map(|r| r.found).collect::<Vec<_>>());
    let stopped = most_common(runs.iter().map(|r| r.stopped.as_str()));
    let times: Vec<ThreadTimes> = runs.iter().filter_map(|r| r.thread_times).collect();
    let of_times = |f: fn(&ThreadTimes) -> f64| {
        (!times.is_empty()).then(|| median(&times.iter().map(f).collect::<Vec<_>>()))
    };
    BflowSummary {
        seconds,
        starts,
        found,
        stopped,
        starts_per_second: starts as f64 / seconds,
        threads: rayon::current_num_threads(),
        cpu_seconds: of_times(|t| t.cpu),
        waiting_seconds: of_times(|t| t.waiting),
        runs,
    }
}

/// Summarises the peer's runs against bflow's median seconds.
pub fn summarise_peer(
    runs: Vec<PeerMapRun>,
    limits: PeerLimits,
    bflow_seconds: f64,
) -> PeerSummary {
    let seconds = median(&runs.iter().map(|r| r.seconds).collect::<Vec<_>>());
    let complete_runs = runs.iter().filter(|r| r.complete).count();
    PeerSummary {
        seconds,
        starts: median_count(&runs.iter().map(|r| r.starts).collect::<Vec<_>>()),
        found: median_count(&runs.iter().map(|r| r.found).collect::<Vec<_>>()),
        complete_runs,
        complete: complete_runs == runs.len(),
        limits,
        ratio: seconds / bflow_seconds,
        runs,
    }
}

/// The most frequent string (the first of the most frequent on a tie; empty for none).
fn most_common<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    let mut best = ("", 0);
    for &a in &items {
        let count = items.iter().filter(|&&b| b == a).count();
        if count > best.1 {
            best = (a, count);
        }
    }
    best.0.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The threads' CPU time grows while this thread computes (on Linux, where it is read),
    /// whatever other threads start and end meanwhile.
    #[test]
    fn thread_samples_count_this_threads_work() {
        let start = sample_threads();
        if cfg!(target_os = "linux") {
            assert!(start.as_ref().is_some_and(|s| !s.0.is_empty()));
        }
        let Some(start) = start else { return };
        let clock = Instant::now();
        let mut x = 1.0f64;
        let mut spent = ThreadTimes {
            cpu: 0.0,
            waiting: 0.0,
        };
        while spent.cpu < 0.005 && clock.elapsed().as_secs_f64() < 20.0 {
            for _ in 0..100_000 {
                x = (x * 1.000_000_1).sqrt() + 0.5;
            }
            spent = sample_threads().expect("read before").since(&start);
        }
        std::hint::black_box(x);
        assert!(spent.cpu >= 0.005, "{spent:?}");
        // A thread gone since is left out, one new since counts from zero.
        let earlier = ThreadSample([(1, (10, 5)), (2, (7, 7))].into_iter().collect());
        let later = ThreadSample([(2, (9, 8)), (3, (4, 1))].into_iter().collect());
        let d = later.since(&earlier);
        assert_eq!((d.cpu, d.waiting), (6e-9, 2e-9));
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(median_count(&[5, 1, 9, 7]), 5);
        assert_eq!(median_count(&[2]), 2);
        assert_eq!(most_common(["a", "b", "b"].into_iter()), "b");
    }

    #[test]
    fn trees_and_input_follow_the_documented_shape() {
        let text = "vars = [\"x\", \"y\"]\n[params]\na = 11.0\n[[objective]]\n\
                    expr = \"(x^2 + y - a)^2\"\n[[objective]]\nexpr = \"exp(-x) * y^0.5\"\n\
                    [region]\nx = [-6.0, 6.0]\ny = [-6.0, 6.0]\n";
        let file = bflow::objectives::problem_file::parse_problem_file(text, "t.toml").unwrap();
        let run = MapRun {
            seed: 3,
            seconds: 0.1,
            starts: 10,
            found: 1,
            stopped: "complete".into(),
            equilibria: vec![vec![1.0, 2.0]],
            thread_times: None,
        };
        let limits = PeerLimits {
            max_starts: 5,
            max_seconds: 1.0,
            tolerance: 1.2e-5,
        };
        let v = peers_input(&file, &limits).unwrap();
        let first = v["objectives"][0].to_string();
        assert!(first.starts_with("[\"powi\","), "{first}");
        assert!(
            first.contains("[\"var\",0]") && first.contains("11.0"),
            "{first}"
        );
        let second = v["objectives"][1].to_string();
        assert!(
            second.contains("\"call\",\"exp\"") && second.contains("\"powf\""),
            "{second}"
        );
        assert_eq!(v["region"][1], json!([-6.0, 6.0]));
        assert!(v.get("runs").is_none());
        assert_eq!(v["max_starts"], 5);
        let r = peer_run(&run);
        assert_eq!(r, json!({"seed": 3, "equilibria": [[1.0, 2.0]]}));
        let out = r#"{"seed": 3, "starts": 9, "seconds": 0.01, "found": 9, "matched": 9,
                      "complete": true, "stop": "complete"}"#;
        let peer = parse_peer_run(out).unwrap();
        let s = summarise_peer(vec![peer], limits, 0.005);
        assert!(s.complete && (s.ratio - 2.0).abs() < 1e-12);
        assert!(parse_peer_run("{").is_err());
        assert!(parse_peer_run(r#"{"ready": true}"#).is_err());
    }
}
