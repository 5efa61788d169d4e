//! bflow: a library to find, certify and map the equilibria of K competing objectives.
pub mod balance;
pub mod dd;
pub mod error;
pub mod objectives;
pub mod problems;
pub mod real;

pub use error::{Error, Result};
