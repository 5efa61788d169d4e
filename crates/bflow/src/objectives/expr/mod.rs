//! Arithmetic expressions over named parameters: a tokenizer, a recursive-descent parser,
//! evaluation generic over the number type, and symbolic differentiation.
//!
//! This is the language of user-written objectives (see
//! [`problem_file`](crate::objectives::problem_file)):
//!
//! * numbers `2`, `1.5`, `.5`, `1e-3`; variables and named constants (params) by name;
//! * binary `+ - * /` and `^`; unary `-` and `+`; parentheses;
//! * functions `sin cos tan exp ln log sqrt abs sign tanh sinh cosh atan` of one argument
//!   (`log` is the **natural** logarithm, the same as `ln`; `sign` is −1, 0 or 1);
//! * constants `pi` and `e`.
//!
//! Precedence, loosest first: `+ -` (left-assoc), `* /` (left-assoc), unary `- +`, `^`
//! (right-assoc). So `-x^2 = -(x^2)`, `2^3^2 = 2^9`, `a/b*c = (a/b)*c`, and `x^-2 = x^(-2)`;
//! chains longer than [`CHAIN_RUN`] operands are grouped in runs (the same real function).
//! Limits keep time and memory bounded for any text: at most [`MAX_NESTING`] levels of
//! nesting, a tree at most [`MAX_DEPTH`] deep and at most [`MAX_NODES`] nodes.
//! The exponent of `^` must fold to a constant (an integer exponent evaluates with `powi`,
//! any other with `powf`) unless the base is a positive constant: `e^x` is `exp(x)` and
//! `2^x` is `exp(ln(2)*x)`. Write `exp(y*ln(x))` for a variable base and exponent.
//!
//! Every constructor folds constants and applies light simplifications (`x+0 = x`,
//! `x*1 = x`, `x*0 = 0`, `--x = x`, …); folding is skipped when the result would not be
//! finite, so `1/0` stays a division and evaluates to `inf`. Note `x*0` is simplified to `0`
//! even though `inf*0` is NaN.
//!
//! Evaluation ([`Expr::eval`]) is written once over [`ExprScalar`], which `f64` and every
//! num-dual number implement; another number type (an interval, say) only has to implement
//! [`ExprScalar`] to evaluate the same trees. [`Expr::derivative`] builds the derivative as
//! a new tree, so second derivatives are trees too.
//!
//! ```
//! use bflow::objectives::expr::Expr;
//!
//! let vars = ["x", "y"];
//! let e = Expr::parse("(x^2 + y - a)^2", &vars, &[("a", 11.0)]).unwrap();
//! assert_eq!(e.eval(&[3.0, 2.0]), 0.0);
//! let dx = e.derivative(0);
//! assert_eq!(dx.eval(&[1.0, 0.0]), 2.0 * (1.0 - 11.0) * 2.0);
//! assert_eq!(dx.display(&vars).to_string(), "((2 * (((x ^ 2) + y) - 11)) * (2 * x))");
//! ```
//!
//! The module is split by concern: `tree` (the [`Expr`] and [`Func`] types and the
//! constructors with exact constant folding), `parse` (tokenizer and parser), `eval`
//! ([`ExprScalar`] and [`Expr::eval`]), `derivative` ([`Expr::derivative`]) and `display`
//! ([`Expr::display`]). For fast repeated evaluation, problem files compile their trees into
//! a flat instruction tape ([`tape`](crate::objectives::problem_file::tape)).

mod derivative;
mod display;
mod eval;
mod parse;
mod tree;

use std::fmt;

pub use display::ExprDisplay;
pub use eval::ExprScalar;
pub use parse::{CHAIN_RUN, MAX_DEPTH, MAX_NESTING, MAX_NODES};
pub(crate) use tree::sign_f64;
pub use tree::{Expr, Func};

/// True for the names an expression reserves: function names and the constants `pi`, `e`.
/// A variable or param may not be called like this.
pub fn is_reserved_name(name: &str) -> bool {
    name == "pi" || name == "e" || Func::from_name(name).is_some()
}

/// A syntax or name error in an expression, with its position in the expression text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// Byte offset of the offending token in the expression.
    pub offset: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for ExprError {}

#[cfg(test)]
mod tests;
