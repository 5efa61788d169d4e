//! The tokenizer and the recursive-descent parser, with errors that carry the column.

use super::{Expr, ExprError, Func};

/// Deepest expression tree the parser accepts. Evaluation and differentiation recurse over
/// the tree, so an unbounded depth could overflow the stack on hostile input. Only real
/// nesting makes a tree deep: chains of `+ -` and of `* /` are grouped (see
/// [`CHAIN_RUN`]), so a flat sum of 100 000 terms is about 30 levels deep.
pub const MAX_DEPTH: usize = 1000;

/// Deepest nesting of parentheses, unary signs, exponents and calls the parser accepts (the
/// parser recurses once per level).
pub const MAX_NESTING: usize = 200;

/// Largest expression tree the parser accepts, in nodes ([`Expr::size`]): the bound that
/// keeps the memory of everything built from one expression (compiled tapes, scratch
/// buffers) bounded. A node is a number, a name or one operation.
pub const MAX_NODES: usize = 1_000_000;

/// Chains of `+ -` (or of `* /`) up to this many operands are built left to right, exactly
/// as written: `a - b + c` is `(a - b) + c`. A longer chain is built as runs of this many
/// operands, each left to right, and the runs are combined pairwise, which is the same real
/// function with a depth of `CHAIN_RUN + log₂(runs)` instead of the chain's length (the
/// floating-point rounding differs only as a different order of summation does).
pub const CHAIN_RUN: usize = 16;

impl Expr {
    /// Parses `text`. `vars` names the parameters in order (a name resolves to its index);
    /// `params` are named constants, folded in. A name that is neither a var, a param, `pi`
    /// nor `e` is an error, and so is a function name used without a call.
    ///
    /// # Errors
    /// [`ExprError`] with the column of the offending token.
    pub fn parse(text: &str, vars: &[&str], params: &[(&str, f64)]) -> Result<Expr, ExprError> {
        let tokens = tokenize(text)?;
        let mut p = Parser {
            text,
            tokens,
            pos: 0,
            vars,
            params,
            nesting: 0,
        };
        let (e, _) = p.expr()?;
        let t = p.peek();
        if t.kind != Tok::End {
            return Err(p.error_at(
                t.offset,
                "expected an operator or the end of the expression",
            ));
        }
        // `size` recurses, which is safe: the depth is at most MAX_DEPTH here.
        let nodes = e.size();
        if nodes > MAX_NODES {
            return Err(p.error_at(
                0,
                format!("expression is too large ({nodes} nodes, the limit is {MAX_NODES})"),
            ));
        }
        Ok(e)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    LParen,
    RParen,
    End,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    offset: usize,
}

fn column_of(text: &str, offset: usize) -> usize {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].chars().count() + 1
}

fn error(text: &str, offset: usize, message: impl Into<String>) -> ExprError {
    ExprError {
        offset,
        column: column_of(text, offset),
        message: crate::error::printable(&message.into()),
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'+' => Tok::Plus,
            b'-' => Tok::Minus,
            b'*' => Tok::Star,
            b'/' => Tok::Slash,
            b'^' => Tok::Caret,
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'0'..=b'9' | b'.' => {
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                if i < bytes.len() && bytes[i] == b'.' {
                    i += 1;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                // An exponent only when digits follow `e`, `e+` or `e-`.
                if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                    let mut k = i + 1;
                    if k < bytes.len() && (bytes[k] == b'+' || bytes[k] == b'-') {
                        k += 1;
                    }
                    if k < bytes.len() && bytes[k].is_ascii_digit() {
                        while k < bytes.len() && bytes[k].is_ascii_digit() {
                            k += 1;
                        }
                        i = k;
                    }
                }
                let s = &text[start..i];
                let v: f64 = s
                    .parse()
                    .map_err(|_| error(text, start, format!("invalid number `{s}`")))?;
                if !v.is_finite() {
                    return Err(error(text, start, format!("number `{s}` is too large")));
                }
                tokens.push(Token {
                    kind: Tok::Num(v),
                    offset: start,
                });
                continue;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                tokens.push(Token {
                    kind: Tok::Ident(text[start..i].to_string()),
                    offset: start,
                });
                continue;
            }
            _ => {
                let ch = text[start..].chars().next().unwrap_or('?');
                return Err(error(text, start, format!("unexpected character `{ch}`")));
            }
        };
        i += 1;
        tokens.push(Token {
            kind,
            offset: start,
        });
    }
    tokens.push(Token {
        kind: Tok::End,
        offset: text.len(),
    });
    Ok(tokens)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    vars: &'a [&'a str],
    params: &'a [(&'a str, f64)],
    nesting: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Token {
        // The token list always ends with `End`, and `pos` never moves past it.
        self.tokens[self.pos.min(self.tokens.len() - 1)].clone()
    }

    fn bump(&mut self) -> Token {
        let t = self.peek();
        if t.kind != Tok::End {
            self.pos += 1;
        }
        t
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> ExprError {
        error(self.text, offset, message)
    }

    fn too_deep(&self, offset: usize) -> ExprError {
        self.error_at(
            offset,
            format!(
                "expression is too deep (more than {MAX_DEPTH} levels of operations or {MAX_NESTING} of nesting)"
            ),
        )
    }

    /// Checks the depth of a node built over children of depth `d`.
    fn node(&self, e: Expr, d: usize, offset: usize) -> Result<(Expr, usize), ExprError> {
        if d + 1 > MAX_DEPTH {
            return Err(self.too_deep(offset));
        }
        Ok((e, d + 1))
    }

    fn enter(&mut self, offset: usize) -> Result<(), ExprError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.too_deep(offset));
        }
        Ok(())
    }

    // expr := term (('+' | '-') term)*
    // Every parse function returns the tree and an upper bound on its depth.
    fn expr(&mut self) -> Result<(Expr, usize), ExprError> {
        self.chain(Tok::Plus, Tok::Minus, Self::term, Expr::add, Expr::sub)
    }

    // term := unary (('*' | '/') unary)*
    fn term(&mut self) -> Result<(Expr, usize), ExprError> {
        self.chain(Tok::Star, Tok::Slash, Self::unary, Expr::mul, Expr::div)
    }

    /// A chain `x₀ (op xᵢ)*` of one precedence level, where `op` is `direct` (`+` or `*`,
    /// built with `same`) or `inverse` (`-` or `/`, built with `opposite`). Read in a loop
    /// (no recursion per operand); built left to right when short, else grouped in runs of
    /// [`CHAIN_RUN`] (see there).
    fn chain(
        &mut self,
        direct: Tok,
        inverse: Tok,
        operand: fn(&mut Self) -> Result<(Expr, usize), ExprError>,
        same: fn(Expr, Expr) -> Expr,
        opposite: fn(Expr, Expr) -> Expr,
    ) -> Result<(Expr, usize), ExprError> {
        let (first, first_depth) = operand(self)?;
        // (inverted, operand, its depth, offset of the operator before it).
        let mut items = Vec::new();
        loop {
            let t = self.peek();
            let inverted = if t.kind == direct {
                false
            } else if t.kind == inverse {
                true
            } else {
                break;
            };
            self.bump();
            let (e, d) = operand(self)?;
            items.push((inverted, e, d, t.offset));
        }
        if items.is_empty() {
            return Ok((first, first_depth));
        }
        self.build_chain(first, first_depth, items, same, opposite)
    }

    /// Builds a chain read by [`chain`](Self::chain) (kept apart so that the frame that
    /// recurses into operands stays small).
    #[inline(never)]
    fn build_chain(
        &self,
        first: Expr,
        first_depth: usize,
        items: Vec<(bool, Expr, usize, usize)>,
        same: fn(Expr, Expr) -> Expr,
        opposite: fn(Expr, Expr) -> Expr,
    ) -> Result<(Expr, usize), ExprError> {
        // Runs, each built left to right as ±(x_a op x_b op …): a run that starts with an
        // inverse operator is built with every operator flipped and carries the inversion.
        let mut runs: Vec<(bool, Expr, usize, usize)> = Vec::new();
        let mut items = std::iter::once((false, first, first_depth, 0)).chain(items);
        while let Some((run_inverted, e, d, at)) = items.next() {
            let (mut acc, mut depth) = (e, d);
            for _ in 1..CHAIN_RUN {
                let Some((inverted, e, d, offset)) = items.next() else {
                    break;
                };
                let op = if inverted != run_inverted {
                    opposite
                } else {
                    same
                };
                (acc, depth) = self.node(op(acc, e), depth.max(d), offset)?;
            }
            runs.push((run_inverted, acc, depth, at));
        }
        // Combine runs pairwise: (s₁, a) then (s₂, b) is (s₁, a op b), op = same when s₁ = s₂.
        while runs.len() > 1 {
            let mut next = Vec::with_capacity(runs.len().div_ceil(2));
            let mut pairs = runs.into_iter();
            while let Some((s1, a, da, at)) = pairs.next() {
                match pairs.next() {
                    Some((s2, b, db, offset)) => {
                        let op = if s1 == s2 { same } else { opposite };
                        let (e, d) = self.node(op(a, b), da.max(db), offset)?;
                        next.push((s1, e, d, at));
                    }
                    None => next.push((s1, a, da, at)),
                }
            }
            runs = next;
        }
        // The first run starts with the chain's first operand, which is never inverted.
        let (_, e, d, _) = runs.pop().expect("a chain has at least one run");
        Ok((e, d))
    }

    // unary := ('-' | '+') unary | power
    fn unary(&mut self) -> Result<(Expr, usize), ExprError> {
        let t = self.peek();
        match t.kind {
            Tok::Minus | Tok::Plus => {
                self.bump();
                self.enter(t.offset)?;
                let (a, d) = self.unary()?;
                self.nesting -= 1;
                if t.kind == Tok::Minus {
                    self.node(Expr::neg(a), d, t.offset)
                } else {
                    Ok((a, d))
                }
            }
            _ => self.power(),
        }
    }

    // power := atom ('^' unary)?
    fn power(&mut self) -> Result<(Expr, usize), ExprError> {
        let (base, d) = self.atom()?;
        let t = self.peek();
        if t.kind != Tok::Caret {
            return Ok((base, d));
        }
        self.bump();
        let exp_at = self.peek().offset;
        self.enter(t.offset)?;
        let (exponent, exp_d) = self.unary()?;
        self.nesting -= 1;
        let Some(p) = exponent.constant_value() else {
            // A positive constant base: c^u = exp(ln(c) u).
            if let Some(c) = base.constant_value().filter(|&c| c > 0.0) {
                let log_c = if c == std::f64::consts::E {
                    1.0
                } else {
                    c.ln()
                };
                let e = Expr::call(Func::Exp, Expr::mul(Expr::Const(log_c), exponent));
                return self.node(e, d.max(exp_d) + 1, t.offset);
            }
            return Err(self.error_at(
                exp_at,
                "the exponent of `^` must be a constant unless the base is a positive constant \
                 (write exp(b*ln(a)) for a^b)",
            ));
        };
        self.node(Expr::pow(base, p), d, t.offset)
    }

    // atom := number | name | name '(' expr ')' | '(' expr ')'
    fn atom(&mut self) -> Result<(Expr, usize), ExprError> {
        let t = self.bump();
        match t.kind {
            Tok::Num(v) => Ok((Expr::Const(v), 1)),
            Tok::LParen => {
                self.enter(t.offset)?;
                let e = self.expr()?;
                self.nesting -= 1;
                self.expect_close(t.offset)?;
                Ok(e)
            }
            Tok::Ident(name) => {
                if let Some(f) = Func::from_name(&name) {
                    let open = self.peek();
                    if open.kind != Tok::LParen {
                        return Err(self.error_at(
                            open.offset,
                            format!("expected `(` after function `{name}`"),
                        ));
                    }
                    self.bump();
                    self.enter(t.offset)?;
                    let (a, d) = self.expr()?;
                    self.nesting -= 1;
                    self.expect_close(open.offset)?;
                    return self.node(Expr::call(f, a), d, t.offset);
                }
                if self.peek().kind == Tok::LParen {
                    return Err(self.error_at(t.offset, format!("unknown function `{name}`")));
                }
                if let Some(j) = self.vars.iter().position(|v| *v == name) {
                    return Ok((Expr::Var(j), 1));
                }
                if let Some((_, v)) = self.params.iter().find(|(p, _)| *p == name) {
                    return Ok((Expr::Const(*v), 1));
                }
                match name.as_str() {
                    "pi" => Ok((Expr::Const(std::f64::consts::PI), 1)),
                    "e" => Ok((Expr::Const(std::f64::consts::E), 1)),
                    _ => Err(self.error_at(t.offset, format!("unknown variable `{name}`"))),
                }
            }
            Tok::End => Err(self.error_at(t.offset, "unexpected end of expression")),
            Tok::RParen => Err(self.error_at(t.offset, "unexpected `)`")),
            _ => Err(self.error_at(t.offset, "expected a number, a name or `(`")),
        }
    }

    fn expect_close(&mut self, open_offset: usize) -> Result<(), ExprError> {
        let t = self.peek();
        if t.kind == Tok::RParen {
            self.bump();
            return Ok(());
        }
        let col = column_of(self.text, open_offset);
        Err(self.error_at(
            t.offset,
            format!("expected `)` to close the `(` at column {col}"),
        ))
    }
}
