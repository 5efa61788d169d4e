//! The extension module `bflow._bflow`: the bflow library from Python.
//!
//! The public API is the pure-Python package `bflow` around it (`python/bflow/`), which adds
//! the `Diagnosis` and `Trajectory` classes, warnings and the Dask map. This module converts
//! arguments, releases the GIL for the computation (`Python::detach`) and raises
//! `bflow._errors` exceptions whose messages are the command line's.
//!
//! `map` and `run` return the JSON the command line writes (`bflow map --json`,
//! `bflow run --json`), serialised by serde_json and parsed by Python's `json` module.

mod arrays;
mod errors;
mod problem;

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use bflow::flow::{
    Limits, LinearSolver, Method, NewtonParams, Observation, StepRule, run_observed,
};
use bflow::map::{MAX_KEPT_RECORDS, MapControl, MapParams, Mapper, Searcher, Shard, StartRecord};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use errors::{IntoPy, input, type_error};

/// How often a long call checks for Ctrl-C (`KeyboardInterrupt`).
const SIGNAL_CHECK: Duration = Duration::from_millis(200);

/// Checks for pending Python signals at most every [`SIGNAL_CHECK`], keeping the first error.
struct SignalCheck {
    last: Instant,
    error: Option<PyErr>,
}

impl SignalCheck {
    fn new() -> Self {
        Self {
            last: Instant::now(),
            error: None,
        }
    }

    /// `Break` once a signal handler has raised (Ctrl-C).
    fn poll(&mut self) -> ControlFlow<()> {
        if self.error.is_some() {
            return ControlFlow::Break(());
        }
        if self.last.elapsed() < SIGNAL_CHECK {
            return ControlFlow::Continue(());
        }
        self.last = Instant::now();
        match Python::attach(|py| py.check_signals()) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

/// A duration from seconds, or the command line's message naming `name`.
fn seconds(py: Python<'_>, name: &str, value: Option<f64>) -> PyResult<Option<Duration>> {
    value
        .map(|t| {
            Duration::try_from_secs_f64(t).map_err(|_| {
                input(
                    py,
                    format!(
                        "{name}: must be a number of seconds ≥ 0 that fits a duration, got {t}"
                    ),
                )
            })
        })
        .transpose()
}

/// `"I/N"` or `(I, N)`.
fn parse_shard(py: Python<'_>, shard: &Bound<'_, PyAny>) -> PyResult<Shard> {
    let (index, count, shown) = if let Ok(text) = shard.cast::<PyString>() {
        let text = text.to_cow()?;
        let bad = || input(py, format!("shard: `{text}` is not I/N with 0 ≤ I < N"));
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        (
            i.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
            format!("`{text}`"),
        )
    } else if let Ok((i, n)) = shard.extract::<(usize, usize)>() {
        (i, n, format!("({i}, {n})"))
    } else {
        return Err(type_error(format!(
            "shard: expected \"I/N\" or a pair (I, N) of non-negative integers, got {}",
            shard.repr()?
        )));
    };
    if count == 0 || index >= count {
        return Err(input(
            py,
            format!("shard: {shown} is not I/N with 0 ≤ I < N"),
        ));
    }
    Ok(Shard { index, count })
}

/// A list of searcher names, or one comma-separated string.
fn parse_searchers(py: Python<'_>, searchers: &Bound<'_, PyAny>) -> PyResult<Vec<Searcher>> {
    let names: Vec<String> = if let Ok(text) = searchers.cast::<PyString>() {
        text.to_cow()?
            .split(',')
            .map(|s| s.trim().to_string())
            .collect()
    } else {
        searchers.extract().map_err(|_| {
            type_error("searchers: expected a list of names (newton, bflow, lossflow, ascent)")
        })?
    };
    names
        .iter()
        .map(|name| {
            Searcher::from_name(name.trim()).ok_or_else(|| {
                input(
                    py,
                    format!(
                        "searchers: `{name}` is not a searcher (newton, bflow, lossflow, ascent)"
                    ),
                )
            })
        })
        .collect()
}

/// `InvalidParameter` as `name: reason`, the Python spelling of the command line's
/// `--name: reason`.
fn option_error(py: Python<'_>, e: bflow::Error) -> PyErr {
    match e {
        bflow::Error::InvalidParameter { name, reason } => input(py, format!("{name}: {reason}")),
        other => errors::from_bflow(py, other),
    }
}

/// The proof budget: `False` none, `True` the default 30 s, a number that many seconds.
fn proof_params(
    py: Python<'_>,
    prove: &Bound<'_, PyAny>,
) -> PyResult<Option<bflow::map::completeness::ProofParams>> {
    let defaults = bflow::map::completeness::ProofParams::default();
    if let Ok(b) = prove.extract::<bool>() {
        return Ok(b.then_some(defaults));
    }
    let t: f64 = prove
        .extract()
        .map_err(|_| type_error("prove: expected True, False or a time budget in seconds"))?;
    let max_time = seconds(py, "prove", Some(t))?.unwrap_or(defaults.max_time);
    Ok(Some(bflow::map::completeness::ProofParams {
        max_time,
        ..defaults
    }))
}

/// A map's JSON as the command line writes it (with `problem_source`), as Python objects.
fn map_to_python<'py>(
    py: Python<'py>,
    map: &bflow::map::EquilibriumMap,
    source: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut value = serde_json::to_value(map)
        .map_err(|e| input(py, format!("the map cannot be serialised: {e}")))?;
    value["problem_source"] = serde_json::json!(source);
    json_to_python(py, &value)
}

fn json_to_python<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    let text =
        serde_json::to_string(value).map_err(|e| input(py, format!("cannot serialise: {e}")))?;
    py.import("json")?.call_method1("loads", (text,))
}

/// Maps the equilibria of `problem` in its region. Every option is required here: the
/// defaults and the documentation are `bflow.map`'s (one place).
#[pyfunction]
#[pyo3(signature = (
    problem, *, starts, max_starts, seed, shard, searchers, bflow_steps, mode_starts, max_time,
    per_start, prove
))]
#[allow(clippy::too_many_arguments)]
fn map<'py>(
    py: Python<'py>,
    problem: &Bound<'py, PyAny>,
    starts: Option<usize>,
    max_starts: usize,
    seed: u64,
    shard: Option<&Bound<'py, PyAny>>,
    searchers: Option<&Bound<'py, PyAny>>,
    bflow_steps: usize,
    mode_starts: bool,
    max_time: Option<f64>,
    per_start: bool,
    prove: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let loaded = problem::load(py, problem)?;
    let defaults = MapParams::default();
    let params = MapParams {
        starts,
        max_starts,
        seed,
        shard: shard.map(|s| parse_shard(py, s)).transpose()?,
        searchers: match searchers {
            Some(s) => parse_searchers(py, s)?,
            None => defaults.searchers.clone(),
        },
        bflow_steps,
        mode_starts,
        ..defaults
    };
    params.validate().map_err(|e| option_error(py, e))?;
    let most = params.most_starts();
    if per_start && most > MAX_KEPT_RECORDS {
        return Err(input(
            py,
            format!(
                "per_start: keeps every start in memory: at most {MAX_KEPT_RECORDS} starts, this \
                 map may run {most}"
            ),
        ));
    }
    let max_time = seconds(py, "max_time", max_time)?;
    let proof = match prove {
        Some(p) => proof_params(py, p)?,
        None => None,
    };
    let problem = &loaded.problem;
    let (map, interrupted) = py.detach(|| {
        let mut signals = SignalCheck::new();
        let result = Mapper::new(problem, &params).and_then(|mut mapper| {
            mapper.run(&mut MapControl {
                max_time,
                keep_records: per_start,
                progress: &|_, _| {},
                on_record: &mut |_: &StartRecord| signals.poll(),
                on_batch: &mut |_| ControlFlow::Continue(()),
            })?;
            let mut map = mapper.finish()?;
            if let Some(proof) = &proof
                && signals.error.is_none()
            {
                map.prove_with(problem, proof, &mut || signals.poll())?;
            }
            Ok(map)
        });
        (result, signals.error)
    });
    if let Some(e) = interrupted {
        return Err(e);
    }
    let map = map.map_err(|e| option_error(py, e))?;
    map_to_python(py, &map, loaded.source.as_deref())
}

/// Merges shard maps into the unsharded map (documented as `bflow.merge`).
#[pyfunction]
#[pyo3(signature = (maps, problem, *, prove))]
fn merge<'py>(
    py: Python<'py>,
    maps: &Bound<'py, PyAny>,
    problem: &Bound<'py, PyAny>,
    prove: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let loaded = problem::load(py, problem)?;
    let json = py.import("json")?;
    let mut parts = Vec::new();
    for (k, part) in maps.try_iter()?.enumerate() {
        let part = part?;
        let text: String = if let Ok(s) = part.cast::<PyString>() {
            s.to_cow()?.to_string()
        } else if part.cast::<PyDict>().is_ok() {
            json.call_method1("dumps", (&part,))?.extract()?
        } else {
            return Err(type_error(format!(
                "maps: item {} is a {}, not a map (a dict from bflow.map or its JSON text)",
                k + 1,
                part.get_type().name()?
            )));
        };
        let data = bflow::map::shard_from_json(&text)
            .map_err(|e| input(py, format!("map {}: {e}", k + 1)))?;
        parts.push(data);
    }
    let proof = match prove {
        Some(p) => proof_params(py, p)?,
        None => None,
    };
    let problem = &loaded.problem;
    let (map, interrupted) = py.detach(|| {
        let mut signals = SignalCheck::new();
        let result = bflow::map::merge(problem, &parts).and_then(|mut map| {
            if let Some(proof) = &proof {
                map.prove_with(problem, proof, &mut || signals.poll())?;
            }
            Ok(map)
        });
        (result, signals.error)
    });
    if let Some(e) = interrupted {
        return Err(e);
    }
    let map = map.py(py)?;
    map_to_python(py, &map, loaded.source.as_deref())
}

/// The flows `method` accepts (the command line's `--method` values; `_` for `-` too).
fn parse_method(py: Python<'_>, name: &str) -> PyResult<&'static str> {
    match name.replace('_', "-").as_str() {
        "loss" => Ok("loss"),
        "bflow" => Ok("bflow"),
        "bflow-central" => Ok("bflow-central"),
        "two-phase" => Ok("two-phase"),
        _ => Err(input(
            py,
            format!("method: `{name}` is not a flow (loss, bflow, bflow-central, two-phase)"),
        )),
    }
}

fn parse_rule(py: Python<'_>, name: &str) -> PyResult<&'static str> {
    match name {
        "fixed" => Ok("fixed"),
        "armijo" => Ok("armijo"),
        "lbfgs" => Ok("lbfgs"),
        "newton" => Ok("newton"),
        _ => Err(input(
            py,
            format!("rule: `{name}` is not a step rule (fixed, armijo, lbfgs, newton)"),
        )),
    }
}

/// A start point: a sequence of n numbers, or one comma-separated string.
fn parse_start(py: Python<'_>, start: &Bound<'_, PyAny>, n: usize) -> PyResult<Vec<f64>> {
    let values: Vec<f64> = if let Ok(text) = start.cast::<PyString>() {
        text.to_cow()?
            .split(',')
            .enumerate()
            .map(|(j, field)| {
                let field = field.trim();
                field.parse::<f64>().map_err(|_| {
                    input(
                        py,
                        format!("start: entry {} `{field}` is not a number", j + 1),
                    )
                })
            })
            .collect::<PyResult<_>>()?
    } else {
        let seq = start
            .try_iter()
            .map_err(|_| type_error("start: expected a sequence of numbers or \"x,y,…\""))?;
        // At most n + 1 items are read: a longer (or endless) iterable is refused as soon as
        // it is known to be too long.
        seq.take(n.saturating_add(1))
            .enumerate()
            .map(|(j, item)| {
                item?
                    .extract::<f64>()
                    .map_err(|_| input(py, format!("start: entry {} is not a number", j + 1)))
            })
            .collect::<PyResult<_>>()?
    };
    if values.len() > n {
        return Err(input(
            py,
            format!("start: more than {n} values given, the problem has {n} parameters"),
        ));
    }
    if values.len() != n {
        return Err(input(
            py,
            format!(
                "start: {} values given, the problem has {n} parameters",
                values.len()
            ),
        ));
    }
    if let Some(j) = values.iter().position(|x| !x.is_finite()) {
        return Err(input(py, format!("start: entry {} is not finite", j + 1)));
    }
    Ok(values)
}

/// Runs one flow from one start. Every option is required here: the defaults and the
/// documentation are `bflow.run`'s.
#[pyfunction]
#[pyo3(signature = (
    problem, *, method, rule, start, steps, step_size, eps_switch, stagnation, floor_steps,
    max_time, matrix_free
))]
#[allow(clippy::too_many_arguments)]
fn run<'py>(
    py: Python<'py>,
    problem: &Bound<'py, PyAny>,
    method: &str,
    rule: &str,
    start: Option<&Bound<'py, PyAny>>,
    steps: usize,
    step_size: Option<f64>,
    eps_switch: f64,
    stagnation: usize,
    floor_steps: usize,
    max_time: Option<f64>,
    matrix_free: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let loaded = problem::load(py, problem)?;
    let problem = &loaded.problem;
    let method_name = parse_method(py, method)?;
    let rule_name = parse_rule(py, rule)?;
    let given_start = start.is_some();
    let start = match start {
        Some(s) => parse_start(py, s, problem.dim())?,
        None => problem.start.clone(),
    };
    // As `bflow run` turns its flags into a method and limits.
    if matrix_free && rule_name != "newton" {
        return Err(input(
            py,
            "matrix_free: applies to rule=\"newton\" (the descent rules never form a matrix)",
        ));
    }
    if !(eps_switch.is_finite() && eps_switch > 0.0) {
        return Err(input(
            py,
            format!("eps_switch: must be finite and > 0, got {eps_switch}"),
        ));
    }
    let step_rule = |default_step: f64| match rule_name {
        "fixed" => StepRule::fixed(step_size.unwrap_or(default_step)),
        "lbfgs" => StepRule::lbfgs(),
        _ => StepRule::armijo(),
    };
    let method = if rule_name == "newton" {
        Method::Newton(NewtonParams {
            linear_solver: if matrix_free {
                LinearSolver::MatrixFree
            } else {
                LinearSolver::Auto
            },
            ..NewtonParams::default()
        })
    } else {
        match method_name {
            "loss" => Method::LossFlow(step_rule(0.01)),
            "bflow" => Method::BFlow(step_rule(0.5)),
            "bflow-central" => Method::BFlowCentral {
                rule: step_rule(0.5),
                h: 1e-4,
            },
            _ => Method::TwoPhase {
                loss: step_rule(0.01),
                balance: step_rule(0.5),
                eps_switch,
            },
        }
    };
    let limits = Limits::for_run(
        steps,
        floor_steps,
        stagnation,
        seconds(py, "max_time", max_time)?,
    );
    let option_of = |name: &str| match name {
        "step" | "loss.step" | "balance.step" => "step_size".to_string(),
        other => other.to_string(),
    };
    method.validate().map_err(|e| match e {
        bflow::Error::InvalidParameter { name, reason } => {
            input(py, format!("{}: {reason}", option_of(&name)))
        }
        other => errors::from_bflow(py, other),
    })?;
    let (report, interrupted) = py.detach(|| {
        let mut signals = SignalCheck::new();
        let mut observer = |_: &Observation<'_, f64>| signals.poll();
        let report = run_observed(problem, &start, &method, &limits, &mut observer);
        (report, signals.error)
    });
    if let Some(e) = interrupted {
        return Err(e);
    }
    let report = report.map_err(|e| match e {
        // A method the problem cannot run (B-flow with one objective) names the option.
        bflow::Error::InvalidParameter { name, reason } => {
            input(py, format!("{}: {reason}", option_of(&name)))
        }
        e if given_start => input(py, format!("start: {e}")),
        e => input(
            py,
            format!("the problem's default start {start:?}: {e}; give start="),
        ),
    })?;
    let value = serde_json::to_value(&report)
        .map_err(|e| input(py, format!("the report cannot be serialised: {e}")))?;
    json_to_python(py, &value)
}

/// The built-in problems: `(name, summary)` pairs, as `bflow problems` lists them.
#[pyfunction]
fn problems<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
    let items: Vec<Bound<'py, PyTuple>> = bflow::problems::CATALOG
        .iter()
        .map(|e| PyTuple::new(py, [e.name, e.summary]))
        .collect::<PyResult<_>>()?;
    PyList::new(py, items)
}

/// A dict problem as the problem file bflow parses (for saving it, and for `bflow merge`).
#[pyfunction]
fn problem_toml(dict: &Bound<'_, PyDict>) -> PyResult<String> {
    problem::dict_to_toml(dict)
}

#[pymodule]
fn _bflow(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(arrays::diagnose, m)?)?;
    m.add_function(wrap_pyfunction!(map, m)?)?;
    m.add_function(wrap_pyfunction!(merge, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(problems, m)?)?;
    m.add_function(wrap_pyfunction!(problem_toml, m)?)?;
    Ok(())
}
