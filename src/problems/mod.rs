//! The catalog of built-in problems, and the [`Problem`] type every command runs on.
//!
//! A [`Problem`] is a set of [`Objectives`] plus what a user needs to run it: a name, a
//! default start, an optional region (a box) and the equilibria known in closed form, so
//! that reports can give the distance to the true answer.

mod multitask;
pub mod suite;
mod targets;

pub use multitask::{
    Csr, FLIP_PROB, Loss, MAX_NNZ_PER_ROW, MultiTask, MultiTaskParams, NOISE_SD, OFFSET_SD,
    multitask_problem,
};
pub use targets::{SEED_PI, Targets};

#[cfg(test)]
pub(crate) use multitask::SplitMix64;

use crate::error::{Error, Result};
use crate::objectives::Objectives;
use crate::real::{Real, distance};

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
];

/// The built-in problem called `name` (case-insensitive), in float type `F`.
///
/// # Errors
/// [`Error::UnknownProblem`] when no built-in problem has that name.
pub fn builtin<F: Real>(name: &str) -> Result<Problem<F>> {
    match name.to_ascii_lowercase().as_str() {
        "e1" => Ok(targets::seed_e1()),
        "e2" => Ok(targets::seed_e2()),
        "e3" => Ok(targets::seed_e3()),
        "e4" => Ok(targets::seed_e4()),
        _ => Err(Error::UnknownProblem {
            name: name.to_string(),
        }),
    }
}
