//! Problems written by users in TOML files: K objectives as [expressions](super::expr).
//!
//! ```toml
//! name = "himmelblau-split"          # optional (default: the file name)
//! description = "one line"           # optional (names and descriptions: no control or bidi characters)
//! vars = ["x", "y"]                   # parameter names, in order
//! [params]                            # optional named constants
//! a = 11.0
//! [[objective]]                       # at least one (K = 1: B ≡ 1, maps work on s = ∇L)
//! name = "L1"                         # optional
//! expr = "(x^2 + y - a)^2"
//! [[objective]]
//! expr = "(x + y^2 - 7)^2"
//! [start]                             # optional default start, every var
//! x = -3.0
//! y = -3.0
//! [region]                            # optional box, one [lo, hi] per var
//! x = [-6.0, 6.0]
//! y = [-6.0, 6.0]
//! [[equilibrium]]                     # optional known equilibria (Σ g_i = 0)
//! point = [3.0, 2.0]
//! note = "a minimum of Σ L_i"         # optional
//! ```
//!
//! A parsed file runs on [`CompiledObjectives`] (module [`tape`]): the trees compiled once
//! into a flat instruction tape, for values, gradients, Hessians, HVPs and interval
//! enclosures. The trees stay available as [`ExprObjectives`], whose
//! [`AutoDiff`] wrapping (num-dual) is the independent reference the tape
//! is tested against.
//!
//! The default start is the region's centre when a region is given, else the origin. Every
//! error is an [`Error::ProblemFile`] carrying the file's line and column (or an
//! [`Error::ProblemFileField`] naming the field when no position is known): misspelt fields
//! are rejected, not ignored.
//!
//! ```
//! use bflow::objectives::problem_file::parse_problem;
//!
//! let text = r#"
//! vars = ["t"]
//! [[objective]]
//! expr = "(t - 3)^2"
//! [[objective]]
//! expr = "(t + 2)^2"
//! [[equilibrium]]
//! point = [0.5]
//! "#;
//! let p = parse_problem(text, "e1.toml").unwrap();
//! assert_eq!((p.num_objectives(), p.dim()), (2, 1));
//! assert_eq!(p.start, vec![0.0]);
//! let mut g = [0.0];
//! p.objectives.gradient(0, &[0.5], &mut g);
//! assert_eq!(g, [-5.0]);
//!
//! let bad = "vars = [\"t\"]\n[[objective]]\nexpr = \"t +* 1\"\n[[objective]]\nexpr = \"t\"\n";
//! let err = parse_problem(bad, "bad.toml").unwrap_err();
//! assert_eq!(err.to_string(), "bad.toml:3:12: objective 1: expected a number, a name or `(`");
//! ```

pub mod tape;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use num_dual::DualNum;
use serde::Deserialize;
use toml::Spanned;

use super::expr::{Expr, MAX_NODES, is_reserved_name};
use super::{AdObjectives, AutoDiff, Objectives};
use crate::error::{Error, Result, printable, unprintable};
use crate::interval::Interval;
use crate::problems::Problem;
pub use tape::CompiledObjectives;

/// K objectives given as expression trees over named parameters.
///
/// It implements [`AdObjectives`], so `AutoDiff<ExprObjectives>` is an [`Objectives<f64>`]
/// with exact derivatives by num-dual (the reference the compiled tape is tested against);
/// the trees are public so they can also be differentiated symbolically
/// ([`Expr::derivative`]) or evaluated in another number type. For speed, compile them:
/// [`CompiledObjectives::new`].
#[derive(Debug, Clone)]
pub struct ExprObjectives {
    /// The parameter names, in order (`Expr::Var(j)` is `vars[j]`).
    pub vars: Vec<String>,
    /// The objectives' names (`"L1"`, … when the file gives none).
    pub names: Vec<String>,
    /// The objectives `L_1..L_K`.
    pub exprs: Vec<Expr>,
    /// The compiled tape behind the interval enclosures, built on first use (`None` when
    /// the trees cannot be compiled).
    compiled: OnceLock<Option<CompiledObjectives>>,
}

/// Equal trees, names and vars (whether the enclosure tape was built yet does not matter).
impl PartialEq for ExprObjectives {
    fn eq(&self, other: &Self) -> bool {
        self.vars == other.vars && self.names == other.names && self.exprs == other.exprs
    }
}

impl ExprObjectives {
    /// Objectives from their trees; `exprs[i]` may use `Expr::Var(j)` for `j < vars.len()`.
    pub fn new(vars: Vec<String>, names: Vec<String>, exprs: Vec<Expr>) -> Self {
        Self {
            vars,
            names,
            exprs,
            compiled: OnceLock::new(),
        }
    }

    fn compiled(&self) -> Option<&CompiledObjectives> {
        self.compiled
            .get_or_init(|| CompiledObjectives::new(self).ok())
            .as_ref()
    }
}

impl AdObjectives for ExprObjectives {
    fn num_objectives(&self) -> usize {
        self.exprs.len()
    }

    fn dim(&self) -> usize {
        self.vars.len()
    }

    fn loss<D: DualNum<Primitive = f64>>(&self, i: usize, theta: &[D]) -> D {
        self.exprs[i].eval(theta)
    }

    /// The compiled tape's enclosure ([`CompiledObjectives`]): rigorous, `ENTIRE` where a
    /// function leaves its domain on the box, `None` when an objective uses `abs` or `sign`
    /// (s is then not differentiable everywhere and no certificate may rest on it).
    fn enclose_sum_gradient(&self, x: &[Interval]) -> Option<Vec<Interval>> {
        self.compiled()?.enclose_sum_gradient(x)
    }

    /// The compiled tape's enclosure of the Hessian of `Σ L_i`; as above.
    fn enclose_sum_hessian(&self, x: &[Interval]) -> Option<Vec<Interval>> {
        self.compiled()?.enclose_sum_hessian(x)
    }
}

/// A parsed problem file: the expression objectives plus the facts the file states.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemFile {
    /// The file's `name`, or the origin's file stem.
    pub name: String,
    /// The file's `description`, or a summary of it.
    pub description: String,
    /// The objectives.
    pub objectives: ExprObjectives,
    /// The default start point.
    pub start: Vec<f64>,
    /// The box, one `(lo, hi)` per var.
    pub region: Option<Vec<(f64, f64)>>,
    /// The equilibria the file lists.
    pub equilibria: Vec<Vec<f64>>,
}

impl ProblemFile {
    /// The runnable [`Problem`], on the compiled tape ([`CompiledObjectives`]). (A parsed
    /// file always compiles; were it ever not to, the problem would run on
    /// [`AutoDiff`] over the trees instead.)
    pub fn into_problem(self) -> Problem<f64> {
        let objectives: Box<dyn Objectives<f64>> = match CompiledObjectives::new(&self.objectives) {
            Ok(compiled) => Box::new(compiled.with_additive_terms(&self.objectives)),
            Err(_) => Box::new(AutoDiff(self.objectives)),
        };
        Problem {
            name: self.name,
            description: self.description,
            objectives,
            start: self.start,
            region: self.region,
            equilibria: self.equilibria,
        }
    }
}

/// Reads and parses the problem file at `path` (see the module docs for the format).
///
/// # Errors
/// [`Error::ProblemFileRead`] when the file cannot be read: no such file, not a regular
/// file (a FIFO, a device, a directory), larger than [`crate::files::PROBLEM_FILE`]'s cap
/// of 1 MiB, not UTF-8, or an I/O error; otherwise as [`parse_problem`].
pub fn load_problem(path: &Path) -> Result<Problem<f64>> {
    load_problem_file(path).map(ProblemFile::into_problem)
}

/// As [`load_problem`], but keeps the expression trees ([`ProblemFile`]).
///
/// # Errors
/// As [`load_problem`].
pub fn load_problem_file(path: &Path) -> Result<ProblemFile> {
    let origin = path.display().to_string();
    let text = crate::files::read_text(path, crate::files::PROBLEM_FILE).map_err(|e| match e {
        Error::FileRead { file, message } => Error::ProblemFileRead { file, message },
        other => other,
    })?;
    parse_problem_file(&text, &origin)
}

/// Parses a problem file's `text`; `origin` names it in errors (a path, `"<stdin>"`, …).
///
/// # Errors
/// [`Error::ProblemFile`] (with line and column) or [`Error::ProblemFileField`] for any bad
/// input: TOML syntax, unknown or missing fields, bad expressions, bad start/region/
/// equilibrium, fewer than 2 objectives, a start where a loss or gradient is not finite.
pub fn parse_problem(text: &str, origin: &str) -> Result<Problem<f64>> {
    parse_problem_file(text, origin).map(ProblemFile::into_problem)
}

/// As [`parse_problem`], but keeps the expression trees ([`ProblemFile`]).
///
/// # Errors
/// As [`parse_problem`].
pub fn parse_problem_file(text: &str, origin: &str) -> Result<ProblemFile> {
    let ctx = Ctx { file: origin, text };
    let spec: FileSpec = toml::from_str(text).map_err(|e| match e.span() {
        Some(span) => ctx.at(span.start, e.message().trim_end()),
        None => ctx.field("(file)", e.message().trim_end()),
    })?;
    build(&ctx, spec)
}

/// A table keyed by var name, keys and values with their spans.
type VarTable<T> = BTreeMap<Spanned<String>, Spanned<T>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    name: Option<Spanned<String>>,
    description: Option<Spanned<String>>,
    vars: Spanned<Vec<Spanned<String>>>,
    params: Option<VarTable<f64>>,
    objective: Option<Spanned<Vec<ObjectiveSpec>>>,
    start: Option<Spanned<VarTable<f64>>>,
    region: Option<Spanned<VarTable<Vec<f64>>>>,
    equilibrium: Option<Vec<EquilibriumSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectiveSpec {
    name: Option<Spanned<String>>,
    expr: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EquilibriumSpec {
    point: Spanned<Vec<f64>>,
    #[allow(dead_code)] // Documentation for the reader of the file.
    note: Option<String>,
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    /// An error at byte `offset` of the file.
    fn at(&self, offset: usize, message: impl Into<String>) -> Error {
        let (line, column) = line_col(self.text, offset);
        Error::ProblemFile {
            file: printable(self.file),
            line,
            column,
            message: printable(&message.into()),
        }
    }

    fn span<T>(&self, s: &Spanned<T>, message: impl Into<String>) -> Error {
        self.at(s.span().start, message)
    }

    fn field(&self, field: &str, message: impl Into<String>) -> Error {
        Error::ProblemFileField {
            file: printable(self.file),
            field: printable(field),
            message: printable(&message.into()),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Byte offset in the file of byte `offset` of the string whose TOML token spans `span`,
/// when the token holds the string verbatim (no escapes, no line-continuations); else the
/// token's start.
fn offset_in_string(text: &str, span: &Range<usize>, value: &str, offset: usize) -> usize {
    let Some(raw) = text.get(span.clone()) else {
        return span.start;
    };
    let (open, close) = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
        let mut open = 3;
        if raw[3..].starts_with("\r\n") {
            open += 2;
        } else if raw[3..].starts_with('\n') {
            open += 1;
        }
        (open, 3)
    } else if raw.starts_with('"') || raw.starts_with('\'') {
        (1, 1)
    } else {
        return span.start;
    };
    match raw.get(open..raw.len().saturating_sub(close)) {
        Some(content) if content == value => span.start + open + offset,
        _ => span.start,
    }
}

/// Refuses a `what` (a name or a description, printed in every report) holding a control
/// or bidirectional formatting character ([`unprintable`]): a terminal would take an escape
/// sequence in it for a command, and an override would reorder what follows.
fn check_printable(ctx: &Ctx<'_>, text: &Spanned<String>, what: &str) -> Result<()> {
    match text.get_ref().chars().find(|&c| unprintable(c)) {
        Some(c) => Err(ctx.span(
            text,
            format!(
                "{what} holds {}, a control or bidirectional formatting character",
                c.escape_default()
            ),
        )),
        None => Ok(()),
    }
}

fn check_name(ctx: &Ctx<'_>, name: &Spanned<String>, what: &str) -> Result<()> {
    let n = name.get_ref();
    let valid = n
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(ctx.span(
            name,
            format!("{what} name `{n}` is not an identifier (letters, digits, `_`)"),
        ));
    }
    if is_reserved_name(n) {
        return Err(ctx.span(
            name,
            format!("{what} name `{n}` is reserved for a function or constant"),
        ));
    }
    Ok(())
}

fn build(ctx: &Ctx<'_>, spec: FileSpec) -> Result<ProblemFile> {
    // Vars.
    let vars: Vec<String> = spec
        .vars
        .get_ref()
        .iter()
        .map(|v| v.get_ref().clone())
        .collect();
    if vars.is_empty() {
        return Err(ctx.span(&spec.vars, "`vars` must name at least one parameter"));
    }
    for (j, v) in spec.vars.get_ref().iter().enumerate() {
        check_name(ctx, v, "var")?;
        if vars[..j].contains(v.get_ref()) {
            return Err(ctx.span(v, format!("duplicate var `{}`", v.get_ref())));
        }
    }
    let n = vars.len();
    let var_index = |name: &str| vars.iter().position(|v| v == name);

    // Params.
    let mut params: Vec<(String, f64)> = Vec::new();
    for (name, value) in spec.params.iter().flatten() {
        check_name(ctx, name, "param")?;
        if var_index(name.get_ref()).is_some() {
            return Err(ctx.span(
                name,
                format!("param `{}` has the name of a var", name.get_ref()),
            ));
        }
        if !value.get_ref().is_finite() {
            return Err(ctx.span(value, format!("param `{}` is not finite", name.get_ref())));
        }
        params.push((name.get_ref().clone(), *value.get_ref()));
    }

    // Objectives.
    let Some(objective) = spec.objective else {
        return Err(ctx.field(
            "objective",
            "no [[objective]] given: need at least 1 objective",
        ));
    };
    if objective.get_ref().is_empty() {
        return Err(ctx.span(&objective, "need at least 1 objective, got 0".to_string()));
    }
    for (text, what) in [(&spec.name, "name"), (&spec.description, "description")] {
        if let Some(text) = text {
            check_printable(ctx, text, what)?;
        }
    }
    let var_refs: Vec<&str> = vars.iter().map(String::as_str).collect();
    let param_refs: Vec<(&str, f64)> = params.iter().map(|(p, v)| (p.as_str(), *v)).collect();
    let mut names = Vec::new();
    let mut exprs = Vec::new();
    let mut total_nodes = 0usize;
    for (i, o) in objective.get_ref().iter().enumerate() {
        if let Some(name) = &o.name {
            check_printable(ctx, name, "objective name")?;
        }
        let label = match o.name.as_ref().map(Spanned::get_ref) {
            Some(name) => format!("objective {} (`{name}`)", i + 1),
            None => format!("objective {}", i + 1),
        };
        let e = Expr::parse(o.expr.get_ref(), &var_refs, &param_refs).map_err(|err| {
            let span = o.expr.span();
            let at = offset_in_string(ctx.text, &span, o.expr.get_ref(), err.offset);
            let message = if at == span.start {
                format!("{label}: column {} of expr: {}", err.column, err.message)
            } else {
                format!("{label}: {}", err.message)
            };
            ctx.at(at, message)
        })?;
        // All objectives together stay within the one-expression bound, so the compiled
        // tape (and everything sized by it) is bounded too.
        total_nodes += e.size();
        if total_nodes > MAX_NODES {
            return Err(ctx.span(
                &o.expr,
                format!(
                    "{label}: the objectives have more than {MAX_NODES} expression nodes in all"
                ),
            ));
        }
        names.push(
            o.name
                .as_ref()
                .map_or_else(|| format!("L{}", i + 1), |n| n.get_ref().clone()),
        );
        exprs.push(e);
    }

    // Region.
    let region = match &spec.region {
        None => None,
        Some(table) => {
            let mut boxes: Vec<Option<(f64, f64)>> = vec![None; n];
            for (name, bounds) in table.get_ref() {
                let Some(j) = var_index(name.get_ref()) else {
                    return Err(
                        ctx.span(name, format!("region for unknown var `{}`", name.get_ref()))
                    );
                };
                let &[lo, hi] = bounds.get_ref().as_slice() else {
                    return Err(ctx.span(
                        bounds,
                        format!(
                            "region for `{}` must be [lo, hi], got {} numbers",
                            name.get_ref(),
                            bounds.get_ref().len()
                        ),
                    ));
                };
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(ctx.span(
                        bounds,
                        format!(
                            "region for `{}` needs finite lo < hi, got [{lo}, {hi}]",
                            name.get_ref()
                        ),
                    ));
                }
                boxes[j] = Some((lo, hi));
            }
            let mut out = Vec::with_capacity(n);
            for (j, b) in boxes.into_iter().enumerate() {
                match b {
                    Some(b) => out.push(b),
                    None => {
                        return Err(ctx.span(table, format!("region is missing var `{}`", vars[j])));
                    }
                }
            }
            Some(out)
        }
    };

    // Start.
    let (start, start_at) = match &spec.start {
        Some(table) => {
            let mut point: Vec<Option<f64>> = vec![None; n];
            for (name, value) in table.get_ref() {
                let Some(j) = var_index(name.get_ref()) else {
                    return Err(
                        ctx.span(name, format!("start for unknown var `{}`", name.get_ref()))
                    );
                };
                if !value.get_ref().is_finite() {
                    return Err(ctx.span(
                        value,
                        format!("start for `{}` is not finite", name.get_ref()),
                    ));
                }
                point[j] = Some(*value.get_ref());
            }
            let mut out = Vec::with_capacity(n);
            for (j, x) in point.into_iter().enumerate() {
                match x {
                    Some(x) => out.push(x),
                    None => {
                        return Err(ctx.span(table, format!("start is missing var `{}`", vars[j])));
                    }
                }
            }
            (out, Some(table.span().start))
        }
        None => match &region {
            Some(r) => (
                // 0.5·lo + 0.5·hi cannot overflow, unlike hi − lo for [−1e308, 1e308].
                r.iter().map(|&(lo, hi)| 0.5 * lo + 0.5 * hi).collect(),
                None,
            ),
            None => (vec![0.0; n], None),
        },
    };

    // Equilibria.
    let mut equilibria = Vec::new();
    for (k, eq) in spec.equilibrium.iter().flatten().enumerate() {
        let p = eq.point.get_ref();
        if p.len() != n {
            return Err(ctx.span(
                &eq.point,
                format!(
                    "equilibrium {} has {} components, there are {n} vars",
                    k + 1,
                    p.len()
                ),
            ));
        }
        if !p.iter().all(|x| x.is_finite()) {
            return Err(ctx.span(&eq.point, format!("equilibrium {} is not finite", k + 1)));
        }
        equilibria.push(p.clone());
    }

    // Without a name or a description the file's path makes them: escaped, as a name in the
    // file may not hold such characters at all.
    let name = spec.name.map(Spanned::into_inner).unwrap_or_else(|| {
        printable(&Path::new(ctx.file).file_stem().map_or_else(
            || ctx.file.to_string(),
            |s| s.to_string_lossy().into_owned(),
        ))
    });
    let description = spec
        .description
        .map(Spanned::into_inner)
        .unwrap_or_else(|| {
            format!(
                "{} objectives on {n} vars from {}",
                exprs.len(),
                printable(ctx.file)
            )
        });
    let objectives = ExprObjectives::new(vars, names, exprs);

    // An explicit start must be usable. A default start (region centre or origin) is not
    // checked here: a user may never use it (`--start`), and a run from it reports a
    // non-finite start with that point.
    let ad = AutoDiff(objectives);
    let mut grad = vec![0.0; n];
    let checked = if start_at.is_some() {
        ad.num_objectives()
    } else {
        0
    };
    for i in 0..checked {
        ad.gradient(i, &start, &mut grad);
        let loss = ad.loss(i, &start);
        if !(loss.is_finite() && grad.iter().all(|g| g.is_finite())) {
            let message = format!(
                "objective {} (`{}`) or its gradient is not finite at the start {start:?} (loss {loss})",
                i + 1,
                ad.0.names[i]
            );
            return Err(match start_at {
                Some(at) => ctx.at(at, message),
                None => ctx.field("start", message),
            });
        }
    }

    Ok(ProblemFile {
        name,
        description,
        objectives: ad.0,
        start,
        region,
        equilibria,
    })
}

#[cfg(test)]
mod tests;
