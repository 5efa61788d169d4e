//! The `problem` argument: a path to a problem file, a built-in name, or a dict in the
//! problem file's form.

use std::path::Path;

use bflow::objectives::problem_file::{load_problem, parse_problem};
use bflow::problems::{Problem, builtin};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::errors::{IntoPy, from_bflow, input, type_error};

/// How a dict problem is named in errors, and its name when the dict gives none.
pub const DICT_ORIGIN: &str = "problem-dict";

/// A problem and what reloads it.
pub struct Loaded {
    /// The problem.
    pub problem: Problem<f64>,
    /// What `bflow merge` on the command line reloads the problem from (`problem_source` in
    /// a map's JSON): the argument as given, a built-in name or a path; `None` for a dict.
    pub source: Option<String>,
}

/// Resolves `problem` (see the module docs).
pub fn load(py: Python<'_>, problem: &Bound<'_, PyAny>) -> PyResult<Loaded> {
    if let Ok(dict) = problem.cast::<PyDict>() {
        let text = dict_to_toml(dict)?;
        let problem = parse_problem(&text, DICT_ORIGIN).py(py)?;
        return Ok(Loaded {
            problem,
            source: None,
        });
    }
    if let Ok(text) = problem.cast::<PyString>() {
        let arg = text.to_cow()?.to_string();
        return Ok(Loaded {
            problem: load_named(py, &arg)?,
            source: Some(arg),
        });
    }
    if problem.hasattr("__fspath__")? {
        let os = py.import("os")?;
        let path: String = os.call_method1("fsdecode", (problem,))?.extract()?;
        let loaded = load_problem(Path::new(&path)).py(py)?;
        return Ok(Loaded {
            problem: loaded,
            source: Some(path),
        });
    }
    Err(type_error(format!(
        "problem: expected a path (str or os.PathLike), a built-in name or a dict, got {}",
        problem.get_type().name()?
    )))
}

/// As the command line resolves its PROBLEM argument: a path to a problem file (anything
/// ending in `.toml`, containing a path separator, or naming something that exists and is
/// not a directory), else a built-in name.
fn load_named(py: Python<'_>, arg: &str) -> PyResult<Problem<f64>> {
    let path = Path::new(arg);
    let existing = std::fs::metadata(path).ok();
    let looks_like_path = arg.ends_with(".toml")
        || arg.contains('/')
        || arg.contains(std::path::MAIN_SEPARATOR)
        || existing.as_ref().is_some_and(|m| !m.is_dir());
    if looks_like_path && !existing.as_ref().is_some_and(|m| m.is_dir()) {
        return load_problem(path).py(py);
    }
    builtin::<f64>(arg).map_err(|e| match e {
        bflow::Error::UnknownProblem { name } => input(
            py,
            format!(
                "unknown problem `{name}`: not a built-in name (see `bflow.problems()`) and {}",
                if existing.is_some() {
                    "a directory, not a problem file"
                } else {
                    "no such file"
                }
            ),
        ),
        other => from_bflow(py, other),
    })
}

/// The problem file's text for a dict: `objectives` (expression strings, or dicts with
/// `expr` and `name`) become `[[objective]]` tables, `equilibria` (points, or dicts with
/// `point`) `[[equilibrium]]` tables; every other key (`vars`, `params`, `region`, `start`,
/// `name`, `description`) is written as it is, so the problem file parser checks it and
/// names what is wrong. Keys whose value is `None` are left out.
pub fn dict_to_toml(dict: &Bound<'_, PyDict>) -> PyResult<String> {
    let py = dict.py();
    let mut table = toml::Table::new();
    // Which of the dict's keys gave each table entry (`objectives` gives `objective`).
    let mut given_as = std::collections::HashMap::new();
    for (key, value) in dict.iter() {
        let key: String = key
            .extract()
            .map_err(|_| type_error("problem dict: keys must be strings"))?;
        if value.is_none() {
            continue;
        }
        let (name, converted) = match key.as_str() {
            "objectives" => (
                "objective".to_string(),
                list_of_tables(&value, "expr", &key)?,
            ),
            "equilibria" => (
                "equilibrium".to_string(),
                list_of_tables(&value, "point", &key)?,
            ),
            _ => (key.clone(), to_toml(&value, &key, 1)?),
        };
        if let Some(earlier) = given_as.insert(name.clone(), key.clone()) {
            return Err(input(
                py,
                format!("{DICT_ORIGIN}: `{name}` is given twice (as `{earlier}` and as `{key}`)"),
            ));
        }
        table.insert(name, converted);
    }
    toml::to_string(&table).map_err(|e| {
        input(
            py,
            format!("{DICT_ORIGIN}: cannot be written as a problem file: {e}"),
        )
    })
}

/// A list whose items are tables, or values that become `{field = value}`.
fn list_of_tables(value: &Bound<'_, PyAny>, field: &str, at: &str) -> PyResult<toml::Value> {
    let toml::Value::Array(items) = to_toml(value, at, 1)? else {
        return Err(type_error(format!(
            "problem dict: `{at}` must be a list, got {}",
            value.get_type().name()?
        )));
    };
    let items = items
        .into_iter()
        .map(|item| match item {
            toml::Value::Table(t) => toml::Value::Table(t),
            other => {
                let mut t = toml::Table::new();
                t.insert(field.to_string(), other);
                toml::Value::Table(t)
            }
        })
        .collect();
    Ok(toml::Value::Array(items))
}

/// How deeply lists and dicts may nest in a problem dict: a problem file needs three levels
/// (`objectives[i].expr`, `region.x[0]`); a deeper value — or one that contains itself — is
/// refused rather than followed.
const MAX_DICT_DEPTH: usize = 32;

/// A Python value as TOML: bool, number (as a float: every number in a problem file is
/// one), str, dict with str keys, list or tuple, and anything with `tolist()` (numpy);
/// `depth` is the value's nesting level under the problem dict (1 for its own values).
fn to_toml(value: &Bound<'_, PyAny>, at: &str, depth: usize) -> PyResult<toml::Value> {
    if depth > MAX_DICT_DEPTH {
        // The path's top-level key names where it is: the rest repeats.
        let top = at.split(['.', '[']).next().unwrap_or(at);
        return Err(input(
            value.py(),
            format!(
                "{DICT_ORIGIN}: `{top}` is nested more than {MAX_DICT_DEPTH} levels deep (or contains itself)"
            ),
        ));
    }
    if value.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(value.extract()?));
    }
    if value.is_instance_of::<PyString>() {
        return Ok(toml::Value::String(value.extract()?));
    }
    if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>() {
        return Ok(toml::Value::Float(value.extract()?));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut t = toml::Table::new();
        for (k, v) in dict.iter() {
            let k: String = k
                .extract()
                .map_err(|_| type_error(format!("problem dict: `{at}`: keys must be strings")))?;
            let inner = format!("{at}.{k}");
            t.insert(k, to_toml(&v, &inner, depth + 1)?);
        }
        return Ok(toml::Value::Table(t));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let items = value
            .try_iter()?
            .enumerate()
            .map(|(i, item)| to_toml(&item?, &format!("{at}[{i}]"), depth + 1))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(toml::Value::Array(items));
    }
    if value.hasattr("tolist")? {
        let plain = value.call_method0("tolist")?;
        if !plain.is(value) {
            return to_toml(&plain, at, depth);
        }
    }
    if let Ok(x) = value.extract::<f64>() {
        return Ok(toml::Value::Float(x));
    }
    Err(type_error(format!(
        "problem dict: `{at}`: a {} cannot be written in a problem file (numbers, strings, lists and dicts can)",
        value.get_type().name()?
    )))
}
