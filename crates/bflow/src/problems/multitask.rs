//! Large-n multi-task regression: K tasks with sparse data sharing one parameter vector.
//!
//! Task `i` has a sparse design matrix `A_i` (`m_i × n`, stored as [`Csr`]) and targets
//! `b_i ∈ R^{m_i}`. With ridge `λ ≥ 0` its loss is either
//!
//! ```text
//! quadratic: L_i(θ) = (1/2m_i) ||A_i θ − b_i||²                        + (λ/2) ||θ||²
//! logistic:  L_i(θ) = (1/m_i) Σ_r softplus(−y_r a_rᵀθ)                + (λ/2) ||θ||²
//! ```
//!
//! with `softplus(t) = log(1 + eᵗ)` and, for the logistic loss, labels `y_r = b_ir ∈ {−1, +1}`.
//! Derivatives in closed form (`z_r = a_rᵀθ`, `σ(t) = 1/(1 + e^{−t})`):
//!
//! ```text
//! quadratic: g_i = A_iᵀ(A_iθ − b_i)/m_i + λθ,           H_i v = A_iᵀ(A_i v)/m_i + λv
//! logistic:  g_i = −A_iᵀ(y ∘ σ(−y ∘ z))/m_i + λθ,       H_i v = A_iᵀ D A_i v/m_i + λv,
//!            D = diag(σ(z_r)(1 − σ(z_r)))
//! ```
//!
//! # No scratch memory
//!
//! Every product `A_iᵀ(c ∘ A_i x)` is computed in one fused pass over the rows: for each row
//! `r`, the gather `a_rᵀx` gives the scalar `c_r`, and `c_r a_r` is scattered into the output.
//! So [`loss`](Objectives::loss), [`gradient`](Objectives::gradient) and
//! [`hvp`](Objectives::hvp) allocate nothing at all (neither n- nor m-sized), need no
//! `thread_local!` or lock, and several threads may evaluate different tasks at once
//! (the [`Evaluator`](crate::objectives::Evaluator) does so for large n).
//!
//! # Generated instances
//!
//! [`MultiTask::generate`] builds an instance deterministically from a `u64` seed
//! ([`MultiTaskParams`]; a self-contained splitmix64 generator, no `rand`):
//!
//! * a common parameter `θ_c ~ N(0, I)`; task `i` has its own truth `θ_i* = θ_c + δ_i`,
//!   `δ_i ~ N(0, OFFSET_SD² I)` ([`OFFSET_SD`]), so the tasks' targets disagree and compete;
//! * each row of `A_i` has `nnz_per_row` distinct, uniformly drawn columns with values
//!   `N(0, 1)/√nnz_per_row` (so `E ||a_r||² = 1` and `E[A_iᵀA_i/m_i] = I/n`);
//! * quadratic: `b_ir = a_rᵀθ_i* + NOISE_SD·N(0, 1)` ([`NOISE_SD`]); logistic:
//!   `y_r = sign(a_rᵀθ_i*)` (`+1` at 0), flipped with probability [`FLIP_PROB`];
//! * `m_i = rows_per_task`, by default `max(⌈2n/K⌉, 8)`: all tasks together have about `2n`
//!   rows, so `Σ_i A_iᵀA_i/m_i` is (with high probability) positive definite while the data
//!   stay `O(n · nnz_per_row)`; each task alone is determined only when `m_i ≥ n` (small n or
//!   K ≤ 2);
//! * the ridge `λ` defaults to `0.01/n`, 1% of the mean per-task curvature `1/n`. It makes
//!   every task strictly convex for any `m_i` (so each task alone has a unique minimizer and
//!   `Σ_i H_i ≥ Kλ I` is positive definite, also for the logistic loss on separable data),
//!   and it moves the equilibrium only slightly.
//!
//! # Data size
//!
//! With `M = K·m` rows in total, `p = nnz_per_row` and `s_F = size_of::<F>()` (8 for `f64`),
//! column indices stored as `u32` and row pointers as `usize` (8 bytes on 64-bit targets):
//!
//! ```text
//! data_bytes = M·p·(s_F + 4)  [values + column indices]
//!            + (M + K)·8      [row pointers]
//!            + M·s_F          [targets b_i]
//! ```
//!
//! For `n = 10⁶, K = 16, p = 8` in `f64` (default `m = 125 000`, `M = 2·10⁶`) that is
//! 224 000 128 bytes ≈ 224 MB; generating it needs in addition two n-vectors of `f64`
//! (16 MB). [`MultiTaskParams::data_bytes`] computes the formula before generating.

use std::mem::size_of;

use super::Problem;
use crate::error::{Error, Result};
use crate::objectives::Objectives;
use crate::real::Real;

/// Standard deviation of each task's offset `δ_i` from the common parameter.
pub const OFFSET_SD: f64 = 1.0;
/// Standard deviation of the noise added to the quadratic targets `b_i`.
pub const NOISE_SD: f64 = 0.01;
/// Probability that a generated logistic label is flipped.
pub const FLIP_PROB: f64 = 0.05;
/// The largest `nnz_per_row` [`MultiTask::generate`] accepts (the class is sparse; distinct
/// columns are drawn in `O(nnz_per_row²)` per row).
pub const MAX_NNZ_PER_ROW: usize = 1024;

fn invalid(name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidParameter {
        name: name.to_string(),
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------
// Sparse matrices
// ---------------------------------------------------------------------------------------

/// A sparse matrix in compressed sparse row (CSR) form.
///
/// Row `r` holds the entries `values[row_ptr[r]..row_ptr[r+1]]` in the columns
/// `col_idx[row_ptr[r]..row_ptr[r+1]]`. Column indices are `u32` (4 bytes per nonzero instead
/// of 8), so at most `2³²` columns. Repeated columns within a row are allowed and add up.
/// The invariants are checked once by [`Csr::new`], so the products never index out of range.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr<F> {
    ncols: usize,
    row_ptr: Vec<usize>,
    col_idx: Vec<u32>,
    values: Vec<F>,
}

impl<F: Real> Csr<F> {
    /// A CSR matrix with `ncols` columns from its three arrays; it has `row_ptr.len() − 1`
    /// rows.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the array at fault when `row_ptr` is empty, does not
    /// start at 0, decreases or does not end at `col_idx.len()`; when `col_idx` and `values`
    /// differ in length; when a column index is `≥ ncols`; or when `ncols > 2³²` (`"ncols"`).
    pub fn new(
        ncols: usize,
        row_ptr: Vec<usize>,
        col_idx: Vec<u32>,
        values: Vec<F>,
    ) -> Result<Self> {
        if ncols as u64 > u64::from(u32::MAX) + 1 {
            return Err(invalid("ncols", format!("{ncols} exceeds 2^32 columns")));
        }
        match row_ptr.first() {
            None => return Err(invalid("row_ptr", "is empty (needs nrows + 1 entries)")),
            Some(&first) if first != 0 => {
                return Err(invalid("row_ptr", format!("starts at {first}, not 0")));
            }
            Some(_) => {}
        }
        if let Some(r) = row_ptr.windows(2).position(|w| w[1] < w[0]) {
            return Err(invalid("row_ptr", format!("decreases at row {r}")));
        }
        if col_idx.len() != values.len() {
            return Err(invalid(
                "values",
                format!(
                    "has {} entries, col_idx has {}",
                    values.len(),
                    col_idx.len()
                ),
            ));
        }
        let last = row_ptr[row_ptr.len() - 1];
        if last != col_idx.len() {
            return Err(invalid(
                "row_ptr",
                format!("ends at {last}, but there are {} nonzeros", col_idx.len()),
            ));
        }
        if let Some(&c) = col_idx.iter().find(|&&c| c as usize >= ncols) {
            return Err(invalid(
                "col_idx",
                format!("column {c} out of range for {ncols} columns"),
            ));
        }
        Ok(Self {
            ncols,
            row_ptr,
            col_idx,
            values,
        })
    }

    /// Number of rows m.
    pub fn nrows(&self) -> usize {
        self.row_ptr.len() - 1
    }

    /// Number of columns n.
    pub fn ncols(&self) -> usize {
        self.ncols
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// The row pointers (length m + 1).
    pub fn row_ptr(&self) -> &[usize] {
        &self.row_ptr
    }

    /// The column index of every stored entry.
    pub fn col_idx(&self) -> &[u32] {
        &self.col_idx
    }

    /// The value of every stored entry.
    pub fn values(&self) -> &[F] {
        &self.values
    }

    /// Row `r` as (column indices, values); `None` when `r ≥ m`.
    pub fn row(&self, r: usize) -> Option<(&[u32], &[F])> {
        let lo = *self.row_ptr.get(r)?;
        let hi = *self.row_ptr.get(r + 1)?;
        Some((&self.col_idx[lo..hi], &self.values[lo..hi]))
    }

    /// Bytes held by the three arrays:
    /// `(m + 1)·size_of::<usize>() + nnz·(4 + size_of::<F>())`.
    pub fn data_bytes(&self) -> usize {
        self.row_ptr.len() * size_of::<usize>()
            + self.col_idx.len() * size_of::<u32>()
            + self.values.len() * size_of::<F>()
    }

    /// `a_rᵀx` for row `r` (callers guarantee `r < m`, `x.len() == n`).
    #[inline]
    fn row_dot(&self, r: usize, x: &[F]) -> F {
        let (lo, hi) = (self.row_ptr[r], self.row_ptr[r + 1]);
        self.col_idx[lo..hi]
            .iter()
            .zip(&self.values[lo..hi])
            .fold(F::zero(), |acc, (&c, &a)| acc + a * x[c as usize])
    }

    /// `out += alpha · a_r` for row `r` (callers guarantee `r < m`, `out.len() == n`).
    #[inline]
    fn row_axpy(&self, r: usize, alpha: F, out: &mut [F]) {
        let (lo, hi) = (self.row_ptr[r], self.row_ptr[r + 1]);
        for (&c, &a) in self.col_idx[lo..hi].iter().zip(&self.values[lo..hi]) {
            let o = &mut out[c as usize];
            *o = *o + alpha * a;
        }
    }

    fn check_len(what: &str, expected: usize, found: usize) -> Result<()> {
        if expected == found {
            Ok(())
        } else {
            Err(Error::DimensionMismatch {
                what: what.to_string(),
                expected,
                found,
            })
        }
    }

    /// Writes `out = A x` (`out_r = a_rᵀx`, a gather per row). No allocation.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] when `x.len() ≠ n` or `out.len() ≠ m`.
    pub fn mul_vec_into(&self, x: &[F], out: &mut [F]) -> Result<()> {
        Self::check_len("x", self.ncols, x.len())?;
        Self::check_len("out", self.nrows(), out.len())?;
        for (r, o) in out.iter_mut().enumerate() {
            *o = self.row_dot(r, x);
        }
        Ok(())
    }

    /// Writes `out = Aᵀ y = Σ_r y_r a_r`, as a scatter over the rows. No allocation.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] when `y.len() ≠ m` or `out.len() ≠ n`.
    pub fn mul_transpose_vec_into(&self, y: &[F], out: &mut [F]) -> Result<()> {
        Self::check_len("y", self.nrows(), y.len())?;
        Self::check_len("out", self.ncols, out.len())?;
        out.fill(F::zero());
        for (r, &yr) in y.iter().enumerate() {
            self.row_axpy(r, yr, out);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The pseudo-random generator
// ---------------------------------------------------------------------------------------

/// splitmix64 (Steele, Lea & Flood 2014): a 64-bit state advanced by a Weyl sequence and
/// mixed; passes BigCrush, and its output is fixed by the seed on every platform.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on [0, 1), 53 random bits.
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..bound` (`bound ≥ 1`) by the multiply-high map; the bias is at
    /// most `bound/2⁶⁴`, negligible here.
    pub(crate) fn below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }

    /// Standard normal by Box–Muller (one of the pair is used; simplicity over speed).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

// ---------------------------------------------------------------------------------------
// The problem class
// ---------------------------------------------------------------------------------------

/// Which loss each task uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Loss {
    /// `L_i(θ) = (1/2m_i) ||A_i θ − b_i||² + (λ/2)||θ||²`.
    #[default]
    Quadratic,
    /// `L_i(θ) = (1/m_i) Σ_r log(1 + exp(−y_r a_rᵀθ)) + (λ/2)||θ||²`, labels `y_r ∈ {−1, +1}`.
    Logistic,
}

/// Sizes and seed of a generated [`MultiTask`] instance (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct MultiTaskParams {
    /// n, the number of shared parameters (`1 ≤ n ≤ 2³²`).
    pub n: usize,
    /// K, the number of tasks (`≥ 2`).
    pub k: usize,
    /// Nonzeros per row of every `A_i` (`1 ≤ nnz_per_row ≤ min(n, MAX_NNZ_PER_ROW)`).
    pub nnz_per_row: usize,
    /// Rows per task `m`; `None` for the default `max(⌈2n/K⌉, 8)`.
    pub rows_per_task: Option<usize>,
    /// The loss of every task.
    pub loss: Loss,
    /// The seed: same seed and sizes, same data bit for bit.
    pub seed: u64,
    /// The ridge `λ ≥ 0` of every task; `None` for the default `0.01/n`.
    pub ridge: Option<f64>,
}

impl Default for MultiTaskParams {
    /// `n = 1000, K = 4, nnz_per_row = 8`, default rows and ridge, quadratic, seed 0.
    fn default() -> Self {
        Self {
            n: 1000,
            k: 4,
            nnz_per_row: 8,
            rows_per_task: None,
            loss: Loss::Quadratic,
            seed: 0,
            ridge: None,
        }
    }
}

impl MultiTaskParams {
    /// The rows per task m that will be used: `rows_per_task`, or `max(⌈2n/K⌉, 8)`
    /// (K = 0 is treated as 1 here; [`validate`](Self::validate) rejects it).
    pub fn resolved_rows_per_task(&self) -> usize {
        self.rows_per_task
            .unwrap_or_else(|| (2 * self.n).div_ceil(self.k.max(1)).max(8))
    }

    /// The ridge λ that will be used: `ridge`, or `0.01/n`.
    pub fn resolved_ridge(&self) -> f64 {
        self.ridge.unwrap_or(0.01 / self.n.max(1) as f64)
    }

    /// Checks every parameter.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first parameter out of range (`"n"`, `"k"`,
    /// `"nnz_per_row"`, `"rows_per_task"`, `"ridge"`), including sizes whose data size
    /// overflows `usize`.
    pub fn validate(&self) -> Result<()> {
        if self.n == 0 {
            return Err(invalid("n", "must be at least 1"));
        }
        if self.n as u64 > u64::from(u32::MAX) + 1 {
            return Err(invalid("n", format!("{} exceeds 2^32", self.n)));
        }
        if self.k < 2 {
            return Err(invalid(
                "k",
                format!("need at least 2 tasks, got {}", self.k),
            ));
        }
        let max_nnz = self.n.min(MAX_NNZ_PER_ROW);
        if self.nnz_per_row == 0 || self.nnz_per_row > max_nnz {
            return Err(invalid(
                "nnz_per_row",
                format!(
                    "{} is not in 1..={max_nnz} (at most min(n, {MAX_NNZ_PER_ROW}))",
                    self.nnz_per_row
                ),
            ));
        }
        if self.rows_per_task == Some(0) {
            return Err(invalid("rows_per_task", "must be at least 1"));
        }
        let ridge = self.resolved_ridge();
        if !(ridge.is_finite() && ridge >= 0.0) {
            return Err(invalid("ridge", format!("{ridge} is not finite and ≥ 0")));
        }
        self.data_bytes_unchecked::<f64>().ok_or_else(|| {
            invalid(
                "rows_per_task",
                "K × rows_per_task × nnz_per_row overflows the address space",
            )
        })?;
        Ok(())
    }

    fn data_bytes_unchecked<F>(&self) -> Option<usize> {
        let total_rows = self.k.checked_mul(self.resolved_rows_per_task())?;
        let nnz = total_rows.checked_mul(self.nnz_per_row)?;
        let values_and_cols = nnz.checked_mul(size_of::<F>() + size_of::<u32>())?;
        let row_ptrs = total_rows
            .checked_add(self.k)?
            .checked_mul(size_of::<usize>())?;
        let targets = total_rows.checked_mul(size_of::<F>())?;
        values_and_cols.checked_add(row_ptrs)?.checked_add(targets)
    }

    /// The bytes the generated instance will hold in type `F`, by the module's formula
    /// `M·p·(s_F + 4) + (M + K)·size_of::<usize>() + M·s_F` with `M = K·m`; equal to
    /// [`MultiTask::data_bytes`] after [`MultiTask::generate`].
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn data_bytes<F: Real>(&self) -> Result<usize> {
        self.validate()?;
        self.data_bytes_unchecked::<F>()
            .ok_or_else(|| invalid("rows_per_task", "data size overflows usize"))
    }
}

/// One task's data.
#[derive(Debug, Clone, PartialEq)]
struct Task<F> {
    a: Csr<F>,
    b: Vec<F>,
    /// `1/m_i`.
    inv_m: F,
}

/// K regression tasks sharing `θ ∈ Rⁿ` (see the module docs for losses and derivatives).
#[derive(Debug, Clone, PartialEq)]
pub struct MultiTask<F> {
    n: usize,
    loss: Loss,
    ridge: F,
    tasks: Vec<Task<F>>,
}

/// `softplus(t) = log(1 + eᵗ) = max(t, 0) + log(1 + e^{−|t|})`, without overflow.
fn softplus<F: Real>(t: F) -> F {
    t.max(F::zero()) + (-t.abs()).exp().ln_1p()
}

/// `σ(t) = 1/(1 + e^{−t})`, without overflow.
fn sigmoid<F: Real>(t: F) -> F {
    let e = (-t.abs()).exp();
    if t >= F::zero() {
        F::one() / (F::one() + e)
    } else {
        e / (F::one() + e)
    }
}

/// `σ(t)(1 − σ(t)) = e^{−|t|}/(1 + e^{−|t|})²`, accurate for large |t|.
fn sigmoid_slope<F: Real>(t: F) -> F {
    let e = (-t.abs()).exp();
    let d = F::one() + e;
    e / (d * d)
}

fn try_vec<T>(len: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|e| invalid(what, format!("cannot allocate {len} entries: {e}")))?;
    Ok(v)
}

impl<F: Real> MultiTask<F> {
    /// An instance from explicit data: task `i` is `(A_i, b_i)`; every `A_i` must have the
    /// same number of columns n and at least one row, `b_i` one entry per row (labels `±1`
    /// for [`Loss::Logistic`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"tasks"` (fewer than 2, no rows, or column counts
    /// that differ), `"b"` (wrong length, non-finite, or a label not `±1`) or `"ridge"`
    /// (negative or not finite).
    pub fn new(loss: Loss, ridge: F, tasks: Vec<(Csr<F>, Vec<F>)>) -> Result<Self> {
        if tasks.len() < 2 {
            return Err(invalid(
                "tasks",
                format!("need at least 2 tasks, got {}", tasks.len()),
            ));
        }
        if !(ridge.is_finite() && ridge >= F::zero()) {
            return Err(invalid("ridge", format!("{ridge} is not finite and ≥ 0")));
        }
        let n = tasks[0].0.ncols();
        if n == 0 {
            return Err(invalid("tasks", "matrices have no columns (n = 0)"));
        }
        let mut out = Vec::with_capacity(tasks.len());
        for (i, (a, b)) in tasks.into_iter().enumerate() {
            if a.ncols() != n {
                return Err(invalid(
                    "tasks",
                    format!("A_{i} has {} columns, A_0 has {n}", a.ncols()),
                ));
            }
            if a.nrows() == 0 {
                return Err(invalid("tasks", format!("A_{i} has no rows")));
            }
            if b.len() != a.nrows() {
                return Err(invalid(
                    "b",
                    format!(
                        "b_{i} has {} entries, A_{i} has {} rows",
                        b.len(),
                        a.nrows()
                    ),
                ));
            }
            if let Some(x) = b.iter().find(|x| !x.is_finite()) {
                return Err(invalid("b", format!("b_{i} has a non-finite entry {x}")));
            }
            if loss == Loss::Logistic
                && let Some(x) = b.iter().find(|&&x| x != F::one() && x != -F::one())
            {
                return Err(invalid("b", format!("label {x} in b_{i} is not ±1")));
            }
            let inv_m = F::one() / F::lit(a.nrows() as f64);
            out.push(Task { a, b, inv_m });
        }
        Ok(Self {
            n,
            loss,
            ridge,
            tasks: out,
        })
    }

    /// The instance described by `params`, generated deterministically from its seed (see the
    /// module docs). The data are drawn in `f64` and rounded to `F`, so the `f32` instance is
    /// the `f64` one rounded.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] as [`MultiTaskParams::validate`], or naming `"n"` or
    /// `"rows_per_task"` when an array cannot be reserved (capacity overflow or a refused
    /// allocation; an over-committing OS may still fail later, when the pages are touched).
    pub fn generate(params: &MultiTaskParams) -> Result<Self> {
        params.validate()?;
        let n = params.n;
        let m = params.resolved_rows_per_task();
        let p = params.nnz_per_row;
        let scale = 1.0 / (p as f64).sqrt();
        let mut rng = SplitMix64(params.seed);

        let mut common: Vec<f64> = try_vec(n, "n")?;
        common.extend((0..n).map(|_| rng.normal()));
        let mut truth: Vec<f64> = try_vec(n, "n")?;
        truth.resize(n, 0.0);
        let mut cols: Vec<u32> = Vec::with_capacity(p);

        let mut tasks = Vec::with_capacity(params.k);
        for _ in 0..params.k {
            for (t, &c) in truth.iter_mut().zip(&common) {
                *t = c + OFFSET_SD * rng.normal();
            }
            let nnz = m * p; // no overflow: validate checked K·m·p
            let mut row_ptr: Vec<usize> = try_vec(m + 1, "rows_per_task")?;
            let mut col_idx: Vec<u32> = try_vec(nnz, "rows_per_task")?;
            let mut values: Vec<F> = try_vec(nnz, "rows_per_task")?;
            let mut b: Vec<F> = try_vec(m, "rows_per_task")?;
            row_ptr.push(0);
            for _ in 0..m {
                // Floyd's algorithm: p distinct columns, uniform over subsets, kept sorted.
                cols.clear();
                for j in (n - p)..n {
                    let t = rng.below(j + 1) as u32;
                    let pick = if cols.binary_search(&t).is_ok() {
                        j as u32
                    } else {
                        t
                    };
                    if let Err(pos) = cols.binary_search(&pick) {
                        cols.insert(pos, pick);
                    }
                }
                let mut z = 0.0;
                for &c in &cols {
                    let a = scale * rng.normal();
                    z += a * truth[c as usize];
                    col_idx.push(c);
                    values.push(F::lit(a));
                }
                let target = match params.loss {
                    Loss::Quadratic => z + NOISE_SD * rng.normal(),
                    Loss::Logistic => {
                        let y = if z >= 0.0 { 1.0 } else { -1.0 };
                        if rng.uniform() < FLIP_PROB { -y } else { y }
                    }
                };
                b.push(F::lit(target));
                row_ptr.push(col_idx.len());
            }
            let a = Csr::new(n, row_ptr, col_idx, values)?;
            let inv_m = F::one() / F::lit(m as f64);
            tasks.push(Task { a, b, inv_m });
        }
        Ok(Self {
            n,
            loss: params.loss,
            ridge: F::lit(params.resolved_ridge()),
            tasks,
        })
    }

    /// The loss every task uses.
    pub fn loss_kind(&self) -> Loss {
        self.loss
    }

    /// The ridge λ.
    pub fn ridge(&self) -> F {
        self.ridge
    }

    /// `A_i`; `None` when `i ≥ K`.
    pub fn matrix(&self, i: usize) -> Option<&Csr<F>> {
        self.tasks.get(i).map(|t| &t.a)
    }

    /// `b_i` (targets, or labels `±1` for the logistic loss); `None` when `i ≥ K`.
    pub fn targets(&self, i: usize) -> Option<&[F]> {
        self.tasks.get(i).map(|t| t.b.as_slice())
    }

    /// Bytes of problem data: the CSR arrays of every `A_i` plus every `b_i`
    /// (`Σ_i [(m_i + 1)·size_of::<usize>() + nnz_i·(4 + s_F) + m_i·s_F]`). A benchmark
    /// subtracts this from its peak memory to report the memory an algorithm adds.
    pub fn data_bytes(&self) -> usize {
        self.tasks
            .iter()
            .map(|t| t.a.data_bytes() + t.b.len() * size_of::<F>())
            .sum()
    }

    /// `c_r` for row `r` in `g_i = Σ_r c_r a_r` (before the ridge), given `z = a_rᵀθ`.
    #[inline]
    fn grad_coef(&self, z: F, b: F, inv_m: F) -> F {
        match self.loss {
            Loss::Quadratic => (z - b) * inv_m,
            Loss::Logistic => -b * sigmoid(-b * z) * inv_m,
        }
    }
}

impl<F: Real> Objectives<F> for MultiTask<F> {
    fn num_objectives(&self) -> usize {
        self.tasks.len()
    }

    fn dim(&self) -> usize {
        self.n
    }

    fn loss(&self, i: usize, theta: &[F]) -> F {
        let t = &self.tasks[i];
        let sum = t.b.iter().enumerate().fold(F::zero(), |acc, (r, &b)| {
            let z = t.a.row_dot(r, theta);
            acc + match self.loss {
                Loss::Quadratic => (z - b) * (z - b),
                Loss::Logistic => softplus(-b * z),
            }
        });
        let half = F::lit(0.5);
        let data = match self.loss {
            Loss::Quadratic => half * sum * t.inv_m,
            Loss::Logistic => sum * t.inv_m,
        };
        let sq = theta.iter().fold(F::zero(), |acc, &x| acc + x * x);
        data + half * self.ridge * sq
    }

    fn gradient(&self, i: usize, theta: &[F], grad: &mut [F]) {
        let t = &self.tasks[i];
        for (g, &x) in grad.iter_mut().zip(theta) {
            *g = self.ridge * x;
        }
        for (r, &b) in t.b.iter().enumerate() {
            let z = t.a.row_dot(r, theta);
            t.a.row_axpy(r, self.grad_coef(z, b, t.inv_m), grad);
        }
    }

    fn hvp(&self, i: usize, theta: &[F], v: &[F], hvp: &mut [F]) {
        hvp.fill(F::zero());
        self.hvp_add(i, theta, v, F::one(), hvp);
    }

    /// `out += scale · (A_iᵀ D A_i v / m_i + λ v)` in one pass over the rows, allocating
    /// nothing.
    fn hvp_add(&self, i: usize, theta: &[F], v: &[F], scale: F, out: &mut [F]) {
        let t = &self.tasks[i];
        let ridge = scale * self.ridge;
        for (h, &x) in out.iter_mut().zip(v) {
            *h = *h + ridge * x;
        }
        let coef = scale * t.inv_m;
        for r in 0..t.a.nrows() {
            let u = t.a.row_dot(r, v);
            let c = match self.loss {
                Loss::Quadratic => u * coef,
                Loss::Logistic => sigmoid_slope(t.a.row_dot(r, theta)) * u * coef,
            };
            t.a.row_axpy(r, c, out);
        }
    }
}

/// The generated multi-task problem as a [`Problem`]: name `"multitask"`, start `θ = 0`, no
/// region, and no stored equilibrium (it is not known in closed form; for the quadratic loss
/// it solves `(Σ_i A_iᵀA_i/m_i + Kλ I) θ = Σ_i A_iᵀb_i/m_i`).
///
/// # Errors
/// As [`MultiTask::generate`].
pub fn multitask_problem<F: Real>(params: &MultiTaskParams) -> Result<Problem<F>> {
    let mt = MultiTask::<F>::generate(params)?;
    let loss = match params.loss {
        Loss::Quadratic => "quadratic",
        Loss::Logistic => "logistic",
    };
    Ok(Problem {
        name: "multitask".to_string(),
        description: format!(
            "multi-task {loss} regression: n={}, K={}, {} rows/task, {} nnz/row, ridge {:e}, seed {}",
            params.n,
            params.k,
            params.resolved_rows_per_task(),
            params.nnz_per_row,
            params.resolved_ridge(),
            params.seed
        ),
        start: vec![F::zero(); params.n],
        region: None,
        equilibria: Vec::new(),
        objectives: Box::new(mt),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objectives::{AdObjectives, AutoDiff, Evaluator, check_derivatives};

    /// The K gradients at θ through the evaluator (parallel over tasks for large n).
    fn gradients_parallel(mt: &MultiTask<f64>, theta: &[f64], out: &mut [Vec<f64>]) -> Result<()> {
        let mut eval = Evaluator::new(mt);
        eval.evaluate(theta)
            .map_err(|_| Error::NonFiniteStart { index: 0 })?;
        for (i, g) in out.iter_mut().enumerate() {
            g.copy_from_slice(eval.gradient(i).expect("just evaluated"));
        }
        Ok(())
    }
    use crate::real::{dot, norm_l2};
    use num_dual::DualNum;

    fn small(loss: Loss, seed: u64) -> MultiTaskParams {
        MultiTaskParams {
            n: 6,
            k: 3,
            nnz_per_row: 3,
            rows_per_task: None,
            loss,
            seed,
            ridge: None,
        }
    }

    fn dense(a: &Csr<f64>) -> Vec<Vec<f64>> {
        let mut d = vec![vec![0.0; a.ncols()]; a.nrows()];
        for (r, row) in d.iter_mut().enumerate() {
            let (cols, vals) = a.row(r).unwrap();
            for (&c, &v) in cols.iter().zip(vals) {
                row[c as usize] += v;
            }
        }
        d
    }

    fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
        let scale = b.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
        assert!(scale > 0.0, "reference vector is zero");
        a.iter()
            .zip(b)
            .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs()))
            / scale
    }

    /// The same losses as [`MultiTask`], written once over dual numbers from the CSR data.
    struct AdMulti(MultiTask<f64>);

    impl AdObjectives for AdMulti {
        fn num_objectives(&self) -> usize {
            self.0.num_objectives()
        }
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn loss<D: DualNum<Primitive = f64>>(&self, i: usize, theta: &[D]) -> D {
            let a = self.0.matrix(i).unwrap();
            let b = self.0.targets(i).unwrap();
            let m = a.nrows() as f64;
            let mut sum = D::from(0.0);
            for (r, &br) in b.iter().enumerate() {
                let (cols, vals) = a.row(r).unwrap();
                let mut z = D::from(0.0);
                for (&c, &v) in cols.iter().zip(vals) {
                    z += theta[c as usize].clone() * v;
                }
                match self.0.loss_kind() {
                    Loss::Quadratic => {
                        let d = z - br;
                        sum += d.clone() * d;
                    }
                    Loss::Logistic => sum += ((z * (-br)).exp() + 1.0).ln(),
                }
            }
            let mut sq = D::from(0.0);
            for x in theta {
                sq += x.clone() * x.clone();
            }
            let data = match self.0.loss_kind() {
                Loss::Quadratic => sum * (0.5 / m),
                Loss::Logistic => sum * (1.0 / m),
            };
            data + sq * (0.5 * self.0.ridge())
        }
    }

    #[test]
    fn csr_products_match_hand_values_and_dense_reference() {
        // [[1, 0, 2], [0, 0, 0], [0, 3, −1]] with the 3 stored as 1 + 2 (a repeated column).
        let a = Csr::new(
            3,
            vec![0, 2, 2, 5],
            vec![0, 2, 1, 2, 1],
            vec![1.0, 2.0, 1.0, -1.0, 2.0],
        )
        .unwrap();
        assert_eq!((a.nrows(), a.ncols(), a.nnz()), (3, 3, 5));
        let mut out = [f64::NAN; 3];
        a.mul_vec_into(&[1.0, 2.0, 3.0], &mut out).unwrap();
        assert_eq!(out, [7.0, 0.0, 3.0]);
        a.mul_transpose_vec_into(&[1.0, 2.0, 3.0], &mut out)
            .unwrap();
        assert_eq!(out, [1.0, 9.0, -1.0]);

        let mt = MultiTask::<f64>::generate(&MultiTaskParams {
            n: 17,
            k: 2,
            nnz_per_row: 5,
            ..MultiTaskParams::default()
        })
        .unwrap();
        let a = mt.matrix(1).unwrap();
        let d = dense(a);
        let x: Vec<f64> = (0..17).map(|j| (j as f64 * 0.37).sin()).collect();
        let y: Vec<f64> = (0..a.nrows()).map(|r| (r as f64 * 0.11).cos()).collect();
        let mut ax = vec![0.0; a.nrows()];
        a.mul_vec_into(&x, &mut ax).unwrap();
        let ax_ref: Vec<f64> = d.iter().map(|row| dot(row, &x)).collect();
        assert!(max_rel_diff(&ax, &ax_ref) < 1e-14);
        let mut aty = vec![f64::NAN; 17];
        a.mul_transpose_vec_into(&y, &mut aty).unwrap();
        let aty_ref: Vec<f64> = (0..17)
            .map(|j| d.iter().zip(&y).map(|(row, &yr)| row[j] * yr).sum())
            .collect();
        assert!(max_rel_diff(&aty, &aty_ref) < 1e-14);
        // Every row holds nnz_per_row distinct, sorted columns.
        for r in 0..a.nrows() {
            let (cols, _) = a.row(r).unwrap();
            assert_eq!(cols.len(), 5);
            assert!(cols.windows(2).all(|w| w[0] < w[1]), "row {r}: {cols:?}");
        }
        assert!(a.row(a.nrows()).is_none());
    }

    #[test]
    fn csr_rejects_bad_arrays_and_shapes() {
        let name = |e: Error| match e {
            Error::InvalidParameter { name, .. } => name,
            other => panic!("unexpected {other:?}"),
        };
        let bad =
            |rp: Vec<usize>, ci: Vec<u32>, v: Vec<f64>| name(Csr::new(3, rp, ci, v).unwrap_err());
        assert_eq!(bad(vec![], vec![], vec![]), "row_ptr");
        assert_eq!(bad(vec![1, 1], vec![0], vec![1.0]), "row_ptr");
        assert_eq!(bad(vec![0, 2, 1], vec![0, 1], vec![1.0, 1.0]), "row_ptr");
        assert_eq!(bad(vec![0, 1], vec![0, 1], vec![1.0, 1.0]), "row_ptr");
        assert_eq!(bad(vec![0, 1], vec![0], vec![]), "values");
        assert_eq!(bad(vec![0, 1], vec![3], vec![1.0]), "col_idx");
        let a = Csr::new(3, vec![0, 1], vec![2], vec![1.0]).unwrap();
        let mut out1 = [0.0; 1];
        let mut out3 = [0.0; 3];
        assert!(matches!(
            a.mul_vec_into(&[1.0; 2], &mut out1),
            Err(Error::DimensionMismatch {
                expected: 3,
                found: 2,
                ..
            })
        ));
        assert!(matches!(
            a.mul_vec_into(&[1.0; 3], &mut out3),
            Err(Error::DimensionMismatch {
                expected: 1,
                found: 3,
                ..
            })
        ));
        assert!(matches!(
            a.mul_transpose_vec_into(&[1.0; 2], &mut out3),
            Err(Error::DimensionMismatch {
                expected: 1,
                found: 2,
                ..
            })
        ));
        assert!(matches!(
            a.mul_transpose_vec_into(&[1.0], &mut out1),
            Err(Error::DimensionMismatch {
                expected: 3,
                found: 1,
                ..
            })
        ));
    }

    #[test]
    fn closed_form_matches_autodiff() {
        for loss in [Loss::Quadratic, Loss::Logistic] {
            let mt = MultiTask::<f64>::generate(&small(loss, 7)).unwrap();
            assert_eq!((mt.num_objectives(), mt.dim()), (3, 6));
            assert!(mt.ridge() > 0.0);
            let ad = AutoDiff(AdMulti(mt.clone()));
            let thetas = [
                vec![0.3, -1.2, 0.8, 2.0, -0.5, 0.1],
                vec![1.5, 0.7, -2.2, 0.4, 1.1, -0.9],
            ];
            let v = [0.9, -0.4, 1.3, 0.2, -1.7, 0.6];
            for theta in &thetas {
                for i in 0..3 {
                    let (l, l_ad) = (mt.loss(i, theta), ad.loss(i, theta));
                    assert!(
                        (l - l_ad).abs() <= 1e-12 * l_ad.abs(),
                        "{loss:?} L{i}: {l} vs {l_ad}"
                    );
                    let mut g = vec![0.0; 6];
                    let mut g_ad = vec![0.0; 6];
                    mt.gradient(i, theta, &mut g);
                    ad.gradient(i, theta, &mut g_ad);
                    let e = max_rel_diff(&g, &g_ad);
                    assert!(e <= 1e-12, "{loss:?} g{i}: rel {e:e}");
                    let mut h = vec![0.0; 6];
                    let mut h_ad = vec![0.0; 6];
                    mt.hvp(i, theta, &v, &mut h);
                    ad.hvp(i, theta, &v, &mut h_ad);
                    let e = max_rel_diff(&h, &h_ad);
                    assert!(e <= 1e-12, "{loss:?} H{i}v: rel {e:e}");
                }
            }
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for loss in [Loss::Quadratic, Loss::Logistic] {
            let mt = MultiTask::<f64>::generate(&MultiTaskParams {
                n: 30,
                k: 4,
                nnz_per_row: 4,
                loss,
                seed: 11,
                ..MultiTaskParams::default()
            })
            .unwrap();
            let theta: Vec<f64> = (0..30).map(|j| (j as f64 * 0.7).sin()).collect();
            let v: Vec<f64> = (0..30).map(|j| (j as f64 * 1.3).cos()).collect();
            let err = check_derivatives(&mt, &theta, &v, 1e-5);
            assert!(err < 1e-8, "{loss:?}: relative FD error {err:e}");
        }
    }

    #[test]
    fn generation_is_deterministic_in_the_seed() {
        for loss in [Loss::Quadratic, Loss::Logistic] {
            let p = small(loss, 42);
            let a = MultiTask::<f64>::generate(&p).unwrap();
            let b = MultiTask::<f64>::generate(&p).unwrap();
            for i in 0..3 {
                let (ma, mb) = (a.matrix(i).unwrap(), b.matrix(i).unwrap());
                assert_eq!(ma.row_ptr(), mb.row_ptr());
                assert_eq!(ma.col_idx(), mb.col_idx());
                let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(ma.values()), bits(mb.values()));
                assert_eq!(bits(a.targets(i).unwrap()), bits(b.targets(i).unwrap()));
            }
            let c = MultiTask::<f64>::generate(&small(loss, 43)).unwrap();
            assert_ne!(a.matrix(0).unwrap().values(), c.matrix(0).unwrap().values());
            assert_ne!(
                a.matrix(0).unwrap().col_idx(),
                c.matrix(0).unwrap().col_idx()
            );
            // The f32 instance is the f64 one rounded.
            let f = MultiTask::<f32>::generate(&p).unwrap();
            let rounded: Vec<f32> = a
                .matrix(2)
                .unwrap()
                .values()
                .iter()
                .map(|&x| x as f32)
                .collect();
            assert_eq!(f.matrix(2).unwrap().values(), rounded.as_slice());
            if loss == Loss::Logistic {
                for i in 0..3 {
                    assert!(a.targets(i).unwrap().iter().all(|&y| y == 1.0 || y == -1.0));
                }
            }
        }
    }

    #[test]
    fn generated_values_have_the_documented_scale() {
        let mt = MultiTask::<f64>::generate(&MultiTaskParams {
            n: 2000,
            k: 4,
            nnz_per_row: 8,
            seed: 5,
            ..MultiTaskParams::default()
        })
        .unwrap();
        let a = mt.matrix(0).unwrap();
        assert_eq!(a.nrows(), 1000); // ⌈2n/K⌉
        // Entries are N(0, 1/8): mean ≈ 0, mean square ≈ 0.125 over 8000 draws.
        let vals = a.values();
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let ms = vals.iter().map(|x| x * x).sum::<f64>() / vals.len() as f64;
        assert!(mean.abs() < 0.015, "mean {mean}");
        assert!((ms - 0.125).abs() < 0.01, "mean square {ms}");
        // Columns are spread over all of 0..n.
        let max_col = *a.col_idx().iter().max().unwrap();
        let min_col = *a.col_idx().iter().min().unwrap();
        assert!(max_col >= 1990 && min_col <= 10, "{min_col}..{max_col}");
    }

    #[test]
    fn invalid_parameters_are_named() {
        let err_name = |p: MultiTaskParams| match MultiTask::<f64>::generate(&p).unwrap_err() {
            Error::InvalidParameter { name, .. } => name,
            other => panic!("unexpected {other:?}"),
        };
        let base = small(Loss::Quadratic, 0);
        assert_eq!(
            err_name(MultiTaskParams {
                n: 0,
                ..base.clone()
            }),
            "n"
        );
        assert_eq!(
            err_name(MultiTaskParams {
                k: 1,
                ..base.clone()
            }),
            "k"
        );
        assert_eq!(
            err_name(MultiTaskParams {
                nnz_per_row: 0,
                ..base.clone()
            }),
            "nnz_per_row"
        );
        assert_eq!(
            err_name(MultiTaskParams {
                nnz_per_row: 7,
                ..base.clone()
            }),
            "nnz_per_row"
        );
        assert_eq!(
            err_name(MultiTaskParams {
                rows_per_task: Some(0),
                ..base.clone()
            }),
            "rows_per_task"
        );
        assert_eq!(
            err_name(MultiTaskParams {
                rows_per_task: Some(usize::MAX / 2),
                ..base.clone()
            }),
            "rows_per_task"
        );
        assert_eq!(
            err_name(MultiTaskParams {
                ridge: Some(-1.0),
                ..base.clone()
            }),
            "ridge"
        );
        assert_eq!(
            err_name(MultiTaskParams {
                ridge: Some(f64::NAN),
                ..base.clone()
            }),
            "ridge"
        );
        assert!(multitask_problem::<f64>(&MultiTaskParams { k: 0, ..base }).is_err());

        // Explicit data.
        let a = || Csr::new(2, vec![0, 1], vec![0], vec![1.0]).unwrap();
        let name = |r: Result<MultiTask<f64>>| match r.unwrap_err() {
            Error::InvalidParameter { name, .. } => name,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(
            name(MultiTask::new(Loss::Quadratic, 0.0, vec![(a(), vec![1.0])])),
            "tasks"
        );
        assert_eq!(
            name(MultiTask::new(
                Loss::Quadratic,
                0.0,
                vec![(a(), vec![1.0]), (a(), vec![])]
            )),
            "b"
        );
        assert_eq!(
            name(MultiTask::new(
                Loss::Logistic,
                0.0,
                vec![(a(), vec![1.0]), (a(), vec![0.5])]
            )),
            "b"
        );
        assert_eq!(
            name(MultiTask::new(
                Loss::Quadratic,
                -0.1,
                vec![(a(), vec![1.0]), (a(), vec![2.0])]
            )),
            "ridge"
        );
        let wide = Csr::new(3, vec![0, 1], vec![0], vec![1.0]).unwrap();
        assert_eq!(
            name(MultiTask::new(
                Loss::Quadratic,
                0.0,
                vec![(a(), vec![1.0]), (wide, vec![2.0])]
            )),
            "tasks"
        );
        // A valid explicit instance: L_0 = ½(θ_0 − 1)², L_1 = ½(θ_0 − 3)²; equilibrium θ_0 = 2.
        let mt = MultiTask::new(
            Loss::Quadratic,
            0.0,
            vec![(a(), vec![1.0]), (a(), vec![3.0])],
        )
        .unwrap();
        let mut g = [0.0; 2];
        mt.gradient(0, &[2.0, 5.0], &mut g);
        assert_eq!(g, [1.0, 0.0]);
        assert_eq!(mt.loss(1, &[2.0, 5.0]), 0.5);
    }

    #[test]
    fn data_size_follows_the_formula() {
        let p = MultiTaskParams {
            n: 50,
            k: 3,
            nnz_per_row: 4,
            ..MultiTaskParams::default()
        };
        let mt = MultiTask::<f64>::generate(&p).unwrap();
        // m = ⌈100/3⌉ = 34, M = 102: 102·4·12 + 105·8 + 102·8.
        let expected = 102 * 4 * 12 + 105 * 8 + 102 * 8;
        assert_eq!(mt.data_bytes(), expected);
        assert_eq!(p.data_bytes::<f64>().unwrap(), expected);
        let mt32 = MultiTask::<f32>::generate(&p).unwrap();
        assert_eq!(mt32.data_bytes(), p.data_bytes::<f32>().unwrap());
        assert_eq!(mt32.data_bytes(), 102 * 4 * 8 + 105 * 8 + 102 * 4);
        // The large instance of the module docs, without generating it.
        let big = MultiTaskParams {
            n: 1_000_000,
            k: 16,
            nnz_per_row: 8,
            ..MultiTaskParams::default()
        };
        assert_eq!(big.resolved_rows_per_task(), 125_000);
        assert_eq!(big.data_bytes::<f64>().unwrap(), 224_000_128);
    }

    /// Solves `Σ_i H_i θ = −Σ_i g_i(0)` by conjugate gradients (quadratic loss: exact).
    fn quadratic_equilibrium(mt: &MultiTask<f64>) -> Vec<f64> {
        let (n, k) = (mt.dim(), mt.num_objectives());
        let zero = vec![0.0; n];
        let mut tmp = vec![0.0; n];
        let apply = |v: &[f64], out: &mut Vec<f64>, tmp: &mut Vec<f64>| {
            out.fill(0.0);
            for i in 0..k {
                mt.hvp(i, &zero, v, tmp);
                out.iter_mut().zip(tmp.iter()).for_each(|(o, t)| *o += t);
            }
        };
        let mut r = vec![0.0; n];
        for i in 0..k {
            mt.gradient(i, &zero, &mut tmp);
            r.iter_mut().zip(&tmp).for_each(|(ri, g)| *ri -= g);
        }
        let r0 = norm_l2(&r);
        let mut x = vec![0.0; n];
        let mut p = r.clone();
        let mut ap = vec![0.0; n];
        let mut rr = dot(&r, &r);
        for _ in 0..10 * n {
            if rr.sqrt() <= 1e-14 * r0 {
                break;
            }
            apply(&p, &mut ap, &mut tmp);
            let alpha = rr / dot(&p, &ap);
            x.iter_mut().zip(&p).for_each(|(xi, pi)| *xi += alpha * pi);
            r.iter_mut().zip(&ap).for_each(|(ri, a)| *ri -= alpha * a);
            let rr_new = dot(&r, &r);
            p.iter_mut()
                .zip(&r)
                .for_each(|(pi, ri)| *pi = ri + (rr_new / rr) * *pi);
            rr = rr_new;
        }
        x
    }

    #[test]
    fn quadratic_equilibrium_balances_competing_tasks() {
        let p = MultiTaskParams {
            n: 40,
            k: 4,
            nnz_per_row: 5,
            seed: 3,
            ..MultiTaskParams::default()
        };
        let prob = multitask_problem::<f64>(&p).unwrap();
        assert_eq!((prob.dim(), prob.num_objectives()), (40, 4));
        assert_eq!(prob.start, vec![0.0; 40]);
        assert!(prob.equilibria.is_empty() && prob.region.is_none());
        let mt = MultiTask::<f64>::generate(&p).unwrap();
        let eq = quadratic_equilibrium(&mt);
        let mut grads = vec![vec![0.0; 40]; 4];
        gradients_parallel(&mt, &eq, &mut grads).unwrap();
        let s: Vec<f64> = (0..40).map(|j| grads.iter().map(|g| g[j]).sum()).collect();
        let mut grads0 = vec![vec![0.0; 40]; 4];
        gradients_parallel(&mt, &vec![0.0; 40], &mut grads0).unwrap();
        let s0: Vec<f64> = (0..40).map(|j| grads0.iter().map(|g| g[j]).sum()).collect();
        assert!(
            norm_l2(&s) <= 1e-10 * norm_l2(&s0),
            "||s|| = {:e}",
            norm_l2(&s)
        );
        // The tasks compete: each gradient is far from zero where their sum vanishes.
        for g in &grads {
            assert!(norm_l2(g) > 1e6 * norm_l2(&s), "||g_i|| = {:e}", norm_l2(g));
        }
        // The same point through the Problem's objectives.
        let mut g = vec![0.0; 40];
        prob.objectives.gradient(2, &eq, &mut g);
        assert_eq!(g, grads[2]);
    }

    #[test]
    fn parallel_gradients_match_sequential_bits() {
        let mt = MultiTask::<f64>::generate(&MultiTaskParams {
            n: 300,
            k: 5,
            loss: Loss::Logistic,
            ..MultiTaskParams::default()
        })
        .unwrap();
        let theta: Vec<f64> = (0..300).map(|j| (j as f64).sin()).collect();
        let mut par = vec![vec![f64::NAN; 300]; 5];
        gradients_parallel(&mt, &theta, &mut par).unwrap();
        for (i, g) in par.iter().enumerate() {
            let mut seq = vec![0.0; 300];
            mt.gradient(i, &theta, &mut seq);
            assert_eq!(g, &seq);
            assert!(norm_l2(g) > 0.0);
        }
    }

    #[test]
    fn logistic_is_stable_for_large_margins() {
        assert_eq!(softplus(1000.0_f64), 1000.0);
        assert_eq!(softplus(-1000.0_f64), 0.0);
        assert!((softplus(0.0_f64) - std::f64::consts::LN_2).abs() < 1e-16);
        assert_eq!(sigmoid(-1000.0_f64), 0.0);
        assert_eq!(sigmoid(1000.0_f64), 1.0);
        assert!((sigmoid_slope(0.0_f64) - 0.25).abs() < 1e-16);
        assert!((sigmoid_slope(-40.0_f64) / (-40.0_f64).exp() - 1.0).abs() < 1e-12);
        let mt = MultiTask::<f64>::generate(&small(Loss::Logistic, 1)).unwrap();
        let theta = vec![1e4; 6];
        let mut g = vec![0.0; 6];
        let mut h = vec![0.0; 6];
        for i in 0..3 {
            let l = mt.loss(i, &theta);
            assert!(l.is_finite() && l > 0.0, "L{i} = {l}");
            mt.gradient(i, &theta, &mut g);
            mt.hvp(i, &theta, &[1.0; 6], &mut h);
            assert!(g.iter().chain(&h).all(|x| x.is_finite()));
        }
    }
}
