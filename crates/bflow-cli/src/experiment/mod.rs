//! Experiments: the seed's runs repeated under its exact settings, and comparisons.
//!
//! [`reproduce`] reruns the seed's experiments E1–E4 ([`seed::SEED_EXPERIMENTS`]) and sets
//! each figure the seed printed beside the one this run measured, with a verdict computed
//! from the two numbers. [`compare`] runs every flow × step rule under equal work budgets on a
//! suite of problem classes and computes verdicts on the seed's claims.

pub mod bench;
pub mod compare;
pub mod diagnose_bench;
pub mod map_bench;
pub mod precision;
pub mod seed;

pub use seed::{
    Agreement, ExperimentRun, FigureVerdict, ReproduceReport, SEED_EXPERIMENTS, SeedExperiment,
    SeedFigure, compare_figure, reproduce,
};
