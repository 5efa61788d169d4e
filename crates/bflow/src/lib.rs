//! # bflow
//!
//! Find, certify and map the **equilibria** of K competing objectives `L_1..L_K` on shared
//! parameters `θ ∈ Rⁿ`: the points where the gradients `g_i = ∇L_i` cancel, `s = Σ g_i = 0`.
//!
//! How far a state is from balance is measured by the **balance residual**
//!
//! ```text
//! B(θ) = ||Σ g_i||² / Σ ||g_i||²   ∈ [0, K],
//! ```
//!
//! zero exactly at an equilibrium, and by the **interaction ratio**
//! `I = Σ_{i<j} g_i·g_j / Σ ||g_i||² = (B − 1)/2`, which is `−½` there. B is undefined (0/0)
//! where every `g_i` vanishes at once; bflow reports that case as *degenerate*.
//!
//! Data flows one way through the modules:
//!
//! | module | what it holds |
//! |---|---|
//! | [`real`] | the float trait [`real::Real`] and overflow-safe vector kernels |
//! | [`interval`] | rigorous `f64` interval arithmetic for certificates |
//! | [`error`] | the library's error type [`Error`] |
//! | [`files`] | safe reading of user files: regular files only, a size cap per kind |
//! | [`balance`] | pure balance math on K gradient vectors: s, Q, B, I, Gram and cosine matrices |
//! | [`gradients`] | readers for logged per-task gradients and Gram matrices: streaming CSV, `.npy` |
//! | [`diagnose`] | B, I, norms, cosines and conflicting pairs from gradients, a Gram matrix or a problem; trajectories |
//! | [`objectives`] | the [`objectives::Objectives`] trait, forward-mode AD, expressions, problem files, the exact ∇B |
//! | [`problems`] | the catalog of built-in problems |
//! | [`linalg`] | dense factorisations (nalgebra, in one place), MINRES and CG over operators |
//! | [`flow`] | one driver over loss-flow, B-flow, two-phase and trust-region Newton; step rules, stop reasons, observers, reports |
//! | [`map`] | equilibrium maps: multi-start searches, classification, certificates, completeness |
//!
//! The command-line tool (package `bflow-cli`, executable `bflow`) and the double-double
//! type (package `bflow-dd`) are separate packages over this one.
//!
//! ## A worked example
//!
//! Three objectives pull θ ∈ R⁴ toward three targets; the equilibrium is their mean.
//! B-flow with the exact ∇B reaches it to the floating-point floor:
//!
//! ```
//! use bflow::flow::{run, Limits, Method, StepRule};
//! use bflow::problems::builtin;
//!
//! let problem = builtin::<f64>("e3")?;
//! let method = Method::BFlow(StepRule::fixed(0.5));
//! let limits = Limits { max_steps: 500, stagnation_steps: Some(20), ..Limits::default() };
//! let report = run(&problem, &problem.start, &method, &limits)?;
//! assert!(report.floor_reached);                     // ||s|| ≤ 4 ε Σ||g_i||
//! assert!(report.distance.unwrap() < 4e-15);         // to (2/3, 1, 4/3, 1)
//! assert!(report.abs_i_plus_half.unwrap() < 1e-30);  // |I + ½| = B/2
//! assert!(report.stop.is_success());
//! println!("{} steps, stopped: {}", report.steps, report.stop);
//! # Ok::<(), bflow::Error>(())
//! ```
#![warn(missing_docs)]

pub mod balance;
pub mod diagnose;
pub mod gradients;

pub mod error;
pub mod files;

pub mod flow;
pub mod interval;
pub mod linalg;
pub mod map;
pub mod objectives;
pub mod problems;
pub mod real;

pub use error::{Error, Result};
