//! Printing a tree with variable names; the printed text parses back to an equal tree.

use std::fmt;

use super::Expr;

impl Expr {
    /// A printable form using `names` for the variables (`x7` when a name is missing).
    /// Every operation is parenthesised, so the text parses back to an equal tree.
    pub fn display<'a, S: AsRef<str>>(&'a self, names: &'a [S]) -> ExprDisplay<'a, S> {
        ExprDisplay { expr: self, names }
    }
}

/// [`Expr`] printed with variable names; see [`Expr::display`].
pub struct ExprDisplay<'a, S> {
    expr: &'a Expr,
    names: &'a [S],
}

fn write_number(f: &mut fmt::Formatter<'_>, c: f64) -> fmt::Result {
    if c.is_sign_negative() {
        write!(f, "(-{})", -c)
    } else {
        write!(f, "{c}")
    }
}

impl<S: AsRef<str>> ExprDisplay<'_, S> {
    fn write(&self, e: &Expr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bin = |f: &mut fmt::Formatter<'_>, a: &Expr, op: &str, b: &Expr| -> fmt::Result {
            f.write_str("(")?;
            self.write(a, f)?;
            write!(f, " {op} ")?;
            self.write(b, f)?;
            f.write_str(")")
        };
        match e {
            Expr::Const(c) => write_number(f, *c),
            Expr::Var(j) => match self.names.get(*j) {
                Some(n) => f.write_str(n.as_ref()),
                None => write!(f, "x{j}"),
            },
            Expr::Neg(a) => {
                f.write_str("(-")?;
                self.write(a, f)?;
                f.write_str(")")
            }
            Expr::Add(a, b) => bin(f, a, "+", b),
            Expr::Sub(a, b) => bin(f, a, "-", b),
            Expr::Mul(a, b) => bin(f, a, "*", b),
            Expr::Div(a, b) => bin(f, a, "/", b),
            Expr::PowI(a, n) => {
                f.write_str("(")?;
                self.write(a, f)?;
                f.write_str(" ^ ")?;
                write_number(f, f64::from(*n))?;
                f.write_str(")")
            }
            Expr::PowF(a, p) => {
                f.write_str("(")?;
                self.write(a, f)?;
                f.write_str(" ^ ")?;
                write_number(f, *p)?;
                f.write_str(")")
            }
            Expr::Call(func, a) => {
                write!(f, "{}(", func.name())?;
                self.write(a, f)?;
                f.write_str(")")
            }
        }
    }
}

impl<S: AsRef<str>> fmt::Display for ExprDisplay<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(self.expr, f)
    }
}
