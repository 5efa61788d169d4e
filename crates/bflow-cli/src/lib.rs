//! The `bflow` command's package: command-line parsing, report formatting, plots, the seed
//! reproduction and the comparison of flows. The mathematics lives in the `bflow` library;
//! this package only drives it and presents what it returns.
#![warn(missing_docs)]

pub mod cli;
pub mod experiment;
pub mod report;
