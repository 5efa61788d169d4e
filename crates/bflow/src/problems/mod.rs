//! The catalog of built-in problems, and the [`Problem`] type every command runs on.
//!
//! A [`Problem`] is a set of [`Objectives`] plus what a user needs to run it: a name, a
//! default start, an optional region (a box) and the equilibria known in closed form, so
//! that reports can give the distance to the true answer.

mod multitask;
pub mod suite;
mod surfaces;
mod targets;

pub use multitask::{
    Csr, FLIP_PROB, Loss, MAX_NNZ_PER_ROW, MultiTask, MultiTaskParams, NOISE_SD, OFFSET_SD,
    multitask_problem,
};
pub use surfaces::{Surface, SurfaceKind, branin_split, himmelblau_split, saddle};
pub use targets::{SEED_PI, Targets};

pub(crate) use multitask::SplitMix64;

use crate::error::{Error, Result};
use crate::objectives::Objectives;
use crate::real::{Real, distance};

/// `x` as an `f64` when that is exact (converting back gives `x`), else `None`. Interval
/// enclosures are `f64`, so a problem in a wider float type only encloses what it can.
pub(crate) fn exact_f64<F: Real>(x: F) -> Option<f64> {
    let y = x.to_f64_lossy();
    (y.is_finite() && F::lit(y) == x).then_some(y)
}

/// A problem ready to run: objectives plus the facts known about them.
pub struct Problem<F: Real> {
    /// Short name (`"e3"`, a file's `name`, …).
    pub name: String,
    /// One line on what the problem is.
    pub description: String,
    /// The K objectives.
    pub objectives: Box<dyn Objectives<F>>,
    /// The default start point.
    pub start: Vec<F>,
    /// An optional box `[lo_j, hi_j]` per parameter, for mapping.
    pub region: Option<Vec<(F, F)>>,
    /// Equilibria (`Σ g_i = 0`) known exactly, rounded to `F`.
    pub equilibria: Vec<Vec<F>>,
}

impl<F: Real> std::fmt::Debug for Problem<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Problem")
            .field("name", &self.name)
            .field("k", &self.objectives.num_objectives())
            .field("n", &self.objectives.dim())
            .field("start", &self.start)
            .field("region", &self.region)
            .field("equilibria", &self.equilibria)
            .finish()
    }
}

impl<F: Real> Problem<F> {
    /// n, the number of parameters.
    pub fn dim(&self) -> usize {
        self.objectives.dim()
    }

    /// K, the number of objectives.
    pub fn num_objectives(&self) -> usize {
        self.objectives.num_objectives()
    }

    /// Distance from `theta` to the nearest known equilibrium; `None` when none is known.
    pub fn distance_to_equilibrium(&self, theta: &[F]) -> Option<F> {
        self.equilibria
            .iter()
            .map(|e| distance(theta, e))
            .fold(None, |best: Option<F>, d| {
                Some(best.map_or(d, |b| b.min(d)))
            })
    }

    /// Checks that a point has the problem's dimension.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] naming `what`.
    pub fn check_point(&self, what: &str, theta: &[F]) -> Result<()> {
        if theta.len() != self.dim() {
            return Err(Error::DimensionMismatch {
                what: what.to_string(),
                expected: self.dim(),
                found: theta.len(),
            });
        }
        Ok(())
    }
}

/// A catalog entry: name and one line of description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The name to pass to [`builtin`].
    pub name: &'static str,
    /// What the problem is, in one line.
    pub summary: &'static str,
}

/// The built-in problems, in the order `bflow problems` lists them.
pub const CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        name: "e1",
        summary: "seed E1: 1-D, K=2, L1=(θ−3)², L2=(θ+2)²; equilibrium 0.5",
    },
    CatalogEntry {
        name: "e2",
        summary: "seed E2: 2-D, K=3 convex quadratics; equilibrium (1, 1)",
    },
    CatalogEntry {
        name: "e3",
        summary: "seed E3: 4-D, K=3, L_i=||θ−t_i||²; equilibrium (2/3, 1, 4/3, 1) (the seed's table)",
    },
    CatalogEntry {
        name: "e4",
        summary: "seed E4: 2-D, K=3 Rastrigin-like, non-convex; many equilibria in [−5.12, 5.12]²",
    },
    CatalogEntry {
        name: "multitask",
        summary: "multi-task sparse regression, large n: multitask:n=…,k=…,nnz=…,loss=quadratic|logistic,seed=…",
    },
    CatalogEntry {
        name: "himmelblau-split",
        summary: "2-D, K=2: Himmelblau's two squares on [−6, 6]²; 4 minima, 4 saddles, 1 maximum",
    },
    CatalogEntry {
        name: "branin-split",
        summary: "2-D, K=2: Branin as competing terms on [−5, 10]×[0, 15]; 3 minima, 2 saddles",
    },
    CatalogEntry {
        name: "saddle",
        summary: "2-D, K=2: Σ L = (x−1)² − (y−2)²; one equilibrium, the saddle (1, 2)",
    },
];

/// The built-in problem called `name` (case-insensitive), in float type `F`.
///
/// `multitask` takes its sizes after a colon:
/// `multitask:n=1000000,k=16,nnz=8,rows=…,loss=logistic,seed=3,ridge=0.001` (every key
/// optional; defaults as [`MultiTaskParams::default`]).
///
/// # Errors
/// [`Error::UnknownProblem`] when no built-in problem has that name;
/// [`Error::InvalidParameter`] naming the key of a bad `multitask` option.
pub fn builtin<F: Real>(name: &str) -> Result<Problem<F>> {
    let lower = name.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("multitask") {
        let options = match rest.strip_prefix(':') {
            Some(o) => o,
            None if rest.is_empty() => "",
            None => {
                return Err(Error::UnknownProblem {
                    name: name.to_string(),
                });
            }
        };
        return multitask_problem(&parse_multitask_options(options)?);
    }
    match lower.as_str() {
        "e1" => Ok(targets::seed_e1()),
        "e2" => Ok(targets::seed_e2()),
        "e3" => Ok(targets::seed_e3()),
        "e4" => Ok(targets::seed_e4()),
        "himmelblau-split" => Ok(surfaces::himmelblau_split()),
        "branin-split" => Ok(surfaces::branin_split()),
        "saddle" => Ok(surfaces::saddle()),
        _ => Err(Error::UnknownProblem {
            name: name.to_string(),
        }),
    }
}

fn parse_multitask_options(options: &str) -> Result<MultiTaskParams> {
    let mut p = MultiTaskParams::default();
    for item in options.split(',').filter(|s| !s.trim().is_empty()) {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| Error::InvalidParameter {
                name: item.trim().to_string(),
                reason: "expected key=value".into(),
            })?;
        let (key, value) = (key.trim(), value.trim());
        let bad = |what: &str| Error::InvalidParameter {
            name: key.to_string(),
            reason: format!("`{value}` is not {what}"),
        };
        let int = || {
            value
                .parse::<usize>()
                .map_err(|_| bad("a non-negative integer"))
        };
        match key {
            "n" => p.n = int()?,
            "k" => p.k = int()?,
            "nnz" | "nnz_per_row" => p.nnz_per_row = int()?,
            "rows" | "rows_per_task" => p.rows_per_task = Some(int()?),
            "seed" => p.seed = value.parse().map_err(|_| bad("an unsigned integer"))?,
            "ridge" => p.ridge = Some(value.parse().map_err(|_| bad("a number"))?),
            "loss" => {
                p.loss = match value {
                    "quadratic" => Loss::Quadratic,
                    "logistic" => Loss::Logistic,
                    _ => return Err(bad("`quadratic` or `logistic`")),
                }
            }
            _ => {
                return Err(Error::InvalidParameter {
                    name: key.to_string(),
                    reason: "unknown multitask option (n, k, nnz, rows, loss, seed, ridge)".into(),
                });
            }
        }
    }
    Ok(p)
}

#[cfg(test)]
mod catalog_tests {
    use super::*;

    #[test]
    fn multitask_spec_strings() {
        let p = builtin::<f64>("multitask:n=50,k=3,loss=logistic,seed=9").unwrap();
        assert_eq!((p.dim(), p.num_objectives()), (50, 3));
        let d = builtin::<f64>("multitask").unwrap();
        assert_eq!(d.dim(), MultiTaskParams::default().n);
        let e = builtin::<f64>("multitask:n=abc").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid n: `abc` is not a non-negative integer"
        );
        let e = builtin::<f64>("multitask:size=3").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid size: unknown multitask option")
        );
        assert!(matches!(
            builtin::<f64>("multitaskx"),
            Err(Error::UnknownProblem { .. })
        ));
    }
}
