//! Diagnosing a state from its K per-task gradients, their Gram matrix, or a problem at a
//! point: B, I, |I + ½|, norms, cosines and the most conflicting pairs — one step or a
//! trajectory of steps.
//!
//! Inputs are plain slices with a shape and strides ([`MatrixView`], [`TrajectoryView`]),
//! float32 or float64 ([`Element`]): a file reader ([`crate::gradients`]) and a caller
//! holding numpy arrays build the same views, without copying.
//!
//! **Scale.** B is scale-free, so every quantity is computed from gradients scaled by a
//! power of two (exactly: no rounding) that brings the largest |w_i g_ij| to [½, 1): B is
//! right for entries from the smallest subnormal (`5e-324`) to the largest float (`1.8e308`).
//! Norms are scaled back and may be ∞ when the norm itself exceeds the float range.
//!
//! **Accuracy.** From gradients, `||s||²` is summed from `s = Σ g_i` itself, so B keeps its
//! relative precision near an equilibrium (down to `≈ (ε Σ||g_i||)²/Q`). From a Gram matrix
//! `1ᵀG1` cancels, and B is resolved only to `≈ K² ε` ([`Diagnosis::b_resolution`]).
//!
//! **Bounded output.** For K ≤ [`FULL_COSINES_MAX_K_DEFAULT`] the K×K cosine matrix is part of
//! the diagnosis; above it only on request ([`DiagnoseParams::full_cosines`]), and refused
//! with [`Error::TooLarge`] when it would need more than [`FULL_COSINES_MAX_BYTES`]. The most
//! conflicting pairs (most negative cosines) are always searched, up to
//! [`PAIR_SEARCH_MAX_WORK`] multiply-adds; beyond it the search is skipped with a note.

use crate::balance::{
    ScaledGram, binary_exponent, check_weights, cosines_from_scaled, scale_by_pow2, split_weights,
    sqrt_unscaled,
};
use crate::error::{Error, Result, within_cap};
use crate::objectives::Objectives;

/// The element types gradients and Gram matrices can be given in.
pub trait Element: Copy + Send + Sync + 'static {
    /// The value as f64 (exact for f32 and f64).
    fn to_f64(self) -> f64;
    /// The symmetry tolerance for a Gram matrix in this type, relative to `√(G_ii G_jj)`:
    /// `1e-6` for f64, `1e-3` for f32 (a Gram matrix accumulated in float32 over many
    /// parameters is symmetric only to a few digits).
    const GRAM_TOLERANCE: f64;
}

impl Element for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    const GRAM_TOLERANCE: f64 = 1e-6;
}

impl Element for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    const GRAM_TOLERANCE: f64 = 1e-3;
}

/// A `rows × cols` matrix over a slice: entry `(i, j)` is
/// `data[offset + i·row_stride + j·col_stride]` (numpy's strides, in elements).
#[derive(Debug, Clone, Copy)]
pub struct MatrixView<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    offset: usize,
    row_stride: usize,
    col_stride: usize,
}

fn shape_error(message: String) -> Error {
    Error::InvalidParameter {
        name: "shape".into(),
        reason: message,
    }
}

impl<'a, T: Element> MatrixView<'a, T> {
    /// A strided view; every entry must lie inside `data`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`shape`) when the last entry is outside `data` or a
    /// dimension is zero.
    pub fn new(
        data: &'a [T],
        rows: usize,
        cols: usize,
        offset: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self> {
        if rows == 0 || cols == 0 {
            return Err(shape_error(format!("{rows}×{cols}: a dimension is zero")));
        }
        let last = (rows - 1)
            .checked_mul(row_stride)
            .and_then(|a| (cols - 1).checked_mul(col_stride).map(|b| (a, b)))
            .and_then(|(a, b)| a.checked_add(b))
            .and_then(|x| x.checked_add(offset));
        match last {
            Some(l) if l < data.len() => Ok(Self {
                data,
                rows,
                cols,
                offset,
                row_stride,
                col_stride,
            }),
            _ => Err(shape_error(format!(
                "a {rows}×{cols} view does not fit in {} values",
                data.len()
            ))),
        }
    }

    /// Row-major (C order): `data.len()` must be `rows·cols`.
    ///
    /// # Errors
    /// As [`new`](Self::new); also when `data` is longer.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Result<Self> {
        check_len(data.len(), &[rows, cols])?;
        Self::new(data, rows, cols, 0, cols, 1)
    }

    /// Column-major (Fortran order).
    ///
    /// # Errors
    /// As [`row_major`](Self::row_major).
    pub fn column_major(data: &'a [T], rows: usize, cols: usize) -> Result<Self> {
        check_len(data.len(), &[rows, cols])?;
        Self::new(data, rows, cols, 0, 1, rows)
    }

    /// Rows (K).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (n, or K for a Gram matrix).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Entry `(i, j)` as f64.
    ///
    /// # Panics
    /// When `i ≥ rows` or `j ≥ cols` (a bug in the caller).
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[self.offset + i * self.row_stride + j * self.col_stride].to_f64()
    }
}

fn check_len(len: usize, shape: &[usize]) -> Result<()> {
    let product = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if product != Some(len) {
        return Err(shape_error(format!(
            "shape {shape:?} needs {} values, {len} given",
            product.map_or("more than usize::MAX".to_string(), |p| p.to_string())
        )));
    }
    Ok(())
}

/// `T` matrices of `rows × cols` over one slice (a `T×K×n` or `T×K×K` array), with
/// numpy's strides in elements.
#[derive(Debug, Clone, Copy)]
pub struct TrajectoryView<'a, T> {
    data: &'a [T],
    steps: usize,
    rows: usize,
    cols: usize,
    offset: usize,
    strides: [usize; 3],
}

impl<'a, T: Element> TrajectoryView<'a, T> {
    /// A C-order (row-major) `[T, rows, cols]` array.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`shape`) when `data.len()` is not the product or an
    /// axis is zero.
    pub fn c_order(data: &'a [T], shape: [usize; 3]) -> Result<Self> {
        check_len(data.len(), &shape)?;
        let [_, r, c] = shape;
        Self::new(data, shape, 0, [r * c, c, 1])
    }

    /// A Fortran-order (column-major) `[T, rows, cols]` array.
    ///
    /// # Errors
    /// As [`c_order`](Self::c_order).
    pub fn fortran_order(data: &'a [T], shape: [usize; 3]) -> Result<Self> {
        check_len(data.len(), &shape)?;
        let [t, r, _] = shape;
        Self::new(data, shape, 0, [1, t, t * r])
    }

    /// A strided `[T, rows, cols]` array: entry `(t, i, j)` is
    /// `data[offset + t·strides[0] + i·strides[1] + j·strides[2]]` (numpy's strides, in
    /// elements, as [`MatrixView::new`] takes them for one matrix). A caller holding a numpy
    /// array with non-negative strides passes its buffer from the first element on, without
    /// copying.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`shape`) when an axis is zero or the last entry is
    /// outside `data`.
    ///
    /// ```
    /// use bflow::diagnose::TrajectoryView;
    /// // Two steps of a 2×3 matrix, every other column of a 2×2×6 C-order buffer.
    /// let data: Vec<f64> = (0..24).map(f64::from).collect();
    /// let v = TrajectoryView::new(&data, [2, 2, 3], 0, [12, 6, 2])?;
    /// assert_eq!(v.step(1)?.get(1, 2), 22.0);
    /// # Ok::<(), bflow::Error>(())
    /// ```
    pub fn new(
        data: &'a [T],
        shape: [usize; 3],
        offset: usize,
        strides: [usize; 3],
    ) -> Result<Self> {
        if shape.contains(&0) {
            return Err(shape_error(format!("shape {shape:?} has an empty axis")));
        }
        let last = shape
            .iter()
            .zip(&strides)
            .try_fold(offset, |acc, (&d, &s)| {
                (d - 1).checked_mul(s).and_then(|x| acc.checked_add(x))
            });
        match last {
            Some(l) if l < data.len() => Ok(Self {
                data,
                steps: shape[0],
                rows: shape[1],
                cols: shape[2],
                offset,
                strides,
            }),
            _ => Err(shape_error(format!(
                "a {}×{}×{} view does not fit in {} values",
                shape[0],
                shape[1],
                shape[2],
                data.len()
            ))),
        }
    }

    /// Steps (T).
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The matrix at step `t` (0-based).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`shape`) for `t ≥ T`.
    pub fn step(&self, t: usize) -> Result<MatrixView<'a, T>> {
        if t >= self.steps {
            return Err(shape_error(format!("step {t} of {}", self.steps)));
        }
        MatrixView::new(
            self.data,
            self.rows,
            self.cols,
            self.offset + t * self.strides[0],
            self.strides[1],
            self.strides[2],
        )
    }
}

/// K up to which the full cosine matrix is part of every diagnosis (and printed).
pub const FULL_COSINES_MAX_K_DEFAULT: usize = 16;

/// The most memory a requested full cosine matrix may take: 512 MiB, counted as 24 bytes
/// per entry (the Gram entry and the optional cosine), so K ≤ 4729.
pub const FULL_COSINES_MAX_BYTES: u64 = 512 << 20;

/// The most memory the checked, scaled copy of a K×K Gram matrix may take: 4 GiB (8 bytes
/// per entry, so K ≤ 23170; the cap on Gram files is the same size).
pub const GRAM_COPY_MAX_BYTES: u64 = 4 << 30;

/// The most working memory a diagnosis from gradients may take per objective, summed over
/// the K objectives (their scales, sums, norms and a block of each row): 1 GiB, so K up to
/// about 6 million for n ≥ 16 — a file of many more rows than columns is most likely
/// transposed.
pub const OBJECTIVES_WORK_MAX_BYTES: u64 = 1 << 30;

/// The most memory the diagnoses of one trajectory's steps may take, estimated per step
/// from K and what each keeps: 1 GiB (a trajectory of more steps is diagnosed in parts).
pub const TRAJECTORY_RESULTS_MAX_BYTES: u64 = 1 << 30;

/// The most multiply-adds spent on finding the most conflicting pairs when the cosine
/// matrix is not otherwise needed (K > 16): `K(K−1)/2 · n ≤ 2³²` (a few seconds).
pub const PAIR_SEARCH_MAX_WORK: f64 = 4_294_967_296.0;

/// Above this many bytes for K normalised rows, the pair search over gradients (K >
/// 2896, where the Gram matrix itself is not kept) is skipped: 256 MiB.
const PAIR_ROWS_MAX_BYTES: u64 = 256 << 20;

/// The largest K for which a Gram matrix is accumulated to find pairs (64 MiB of f64).
const GRAM_PAIRS_MAX_K: usize = 2896;

/// How to diagnose.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagnoseParams {
    /// Diagnose `Σ w_i g_i`: each `g_i` becomes `w_i g_i` (a Gram matrix `W G W`).
    pub weights: Option<Vec<f64>>,
    /// Keep the full K×K cosine matrix even for K > 16 (refused above
    /// [`FULL_COSINES_MAX_BYTES`]).
    pub full_cosines: bool,
    /// How many of the most conflicting pairs to list.
    pub conflicts: usize,
}

impl Default for DiagnoseParams {
    fn default() -> Self {
        Self {
            weights: None,
            full_cosines: false,
            conflicts: 5,
        }
    }
}

/// One pair of objectives and the cosine of their gradients.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PairCosine {
    /// The first objective, 1-based.
    pub i: usize,
    /// The second objective, 1-based (`j > i`).
    pub j: usize,
    /// `cos(g_i, g_j)`.
    pub cosine: f64,
}

/// The balance of one state. Serialises (serde) to the JSON of `bflow diagnose`:
/// `B`, `I`, `abs_I_plus_half` (null when degenerate), `degenerate`, `gradient_norms`,
/// `sum_norm`, `cosine` (only when kept), `conflicts`, `losses` (only from a problem), `K`,
/// `n` (null for Gram input), `source`, `notes`, `warnings`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Diagnosis {
    /// K.
    #[serde(rename = "K")]
    pub k: usize,
    /// n (unknown from a Gram matrix).
    pub n: Option<usize>,
    /// B, `None` when degenerate.
    #[serde(rename = "B")]
    pub b: Option<f64>,
    /// `I = (B − 1)/2`.
    #[serde(rename = "I")]
    pub interaction: Option<f64>,
    /// `|I + ½| = B/2`.
    #[serde(rename = "abs_I_plus_half")]
    pub abs_i_plus_half: Option<f64>,
    /// Every gradient vanishes (`Q = 0`, `B = 0/0`).
    pub degenerate: bool,
    /// `||g_i||` (of `w_i g_i` with weights; ∞ beyond the float range).
    pub gradient_norms: Vec<f64>,
    /// `||Σ g_i||`.
    pub sum_norm: f64,
    /// The K×K cosine matrix (`None` entries where a gradient is zero); kept for K ≤ 16 or
    /// on request.
    #[serde(rename = "cosine", skip_serializing_if = "Option::is_none")]
    pub cosines: Option<Vec<Vec<Option<f64>>>>,
    /// The most conflicting pairs: the most negative cosines, most negative first (only
    /// negative ones); `None` when the search was skipped (see `notes`).
    pub conflicts: Option<Vec<PairCosine>>,
    /// `L_i(θ)`, when a problem was diagnosed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub losses: Option<Vec<f64>>,
    /// `"gradients"` or `"gram"`.
    pub source: &'static str,
    /// The smallest B this input can resolve (see the module docs): about `K² ε` from a
    /// Gram matrix, `None` from gradients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b_resolution: Option<f64>,
    /// What was skipped or should be known (one sentence each).
    pub notes: Vec<String>,
    /// Signs that the input is not what it should be (a likely transposed file).
    pub warnings: Vec<String>,
}

/// Keeps the `m` most negative cosines, in a fixed order (cosine, then i, then j).
struct Conflicts {
    m: usize,
    pairs: Vec<PairCosine>,
}

impl Conflicts {
    /// The `m` most negative of the `K(K − 1)/2` pairs of `k` gradients: no more are kept
    /// (or allocated for) than there are pairs, whatever `m` asks.
    fn new(m: usize, k: usize) -> Self {
        let m = m.min(k.saturating_mul(k.saturating_sub(1)) / 2);
        Self {
            m,
            pairs: Vec::with_capacity(m + 1),
        }
    }

    fn offer(&mut self, i: usize, j: usize, cosine: f64) {
        if self.m == 0 || cosine >= 0.0 || cosine.is_nan() {
            return;
        }
        let key = |p: &PairCosine| (p.cosine, p.i, p.j);
        let new = PairCosine {
            i: i + 1,
            j: j + 1,
            cosine,
        };
        if self.pairs.len() == self.m
            && self
                .pairs
                .last()
                .is_some_and(|w| key(w).0.total_cmp(&cosine).is_lt())
        {
            return;
        }
        let at = self.pairs.partition_point(|p| {
            let (c, a, b) = key(p);
            c.total_cmp(&cosine).is_lt() || (c == cosine && (a, b) < (new.i, new.j))
        });
        self.pairs.insert(at, new);
        self.pairs.truncate(self.m);
    }
}

fn cosines_wanted(k: usize, params: &DiagnoseParams) -> Result<bool> {
    if k <= FULL_COSINES_MAX_K_DEFAULT {
        return Ok(true);
    }
    if !params.full_cosines {
        return Ok(false);
    }
    within_cap(
        (k as u64).saturating_mul(k as u64).saturating_mul(24),
        FULL_COSINES_MAX_BYTES,
        || format!("the {k}×{k} cosine matrix"),
        "; the most conflicting pairs are listed without it",
    )?;
    Ok(true)
}

/// Per-row scaling: `v_ij = ((g_ij · a_i) · b_i) · c_i = w_i g_ij / 2^E`.
struct RowScales {
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    /// E: `w_i g_ij = v_ij · 2^E`.
    exponent: i32,
    /// Every row is zero (or has a zero weight).
    all_zero: bool,
}

fn row_scales<T: Element>(g: &MatrixView<'_, T>, weights: Option<&[f64]>) -> Result<RowScales> {
    let (k, n) = (g.rows, g.cols);
    let mut row_max = vec![0.0_f64; k];
    let check = |i: usize, j: usize, x: f64| -> Result<()> {
        if x.is_finite() {
            Ok(())
        } else {
            Err(Error::NonFiniteGradient {
                index: i,
                component: j,
                value: x,
            })
        }
    };
    // In storage order, for speed.
    if g.col_stride <= g.row_stride {
        for (i, m) in row_max.iter_mut().enumerate() {
            for j in 0..n {
                let x = g.get(i, j);
                check(i, j, x)?;
                *m = m.max(x.abs());
            }
        }
    } else {
        for j in 0..n {
            for (i, m) in row_max.iter_mut().enumerate() {
                let x = g.get(i, j);
                check(i, j, x)?;
                *m = m.max(x.abs());
            }
        }
    }
    let ones = vec![1.0; k];
    let weights = match weights {
        Some(w) => {
            check_weights(w, k)?;
            w
        }
        None => &ones,
    };
    let (mantissas, w_exp) = split_weights(weights);
    let row_exp: Vec<i32> = row_max.iter().map(|&m| binary_exponent(m)).collect();
    let live = |i: usize| row_max[i] > 0.0 && weights[i] != 0.0;
    let exponent = (0..k)
        .filter(|&i| live(i))
        .map(|i| row_exp[i] + w_exp[i])
        .max();
    let Some(exponent) = exponent else {
        return Ok(RowScales {
            a: vec![0.0; k],
            b: vec![0.0; k],
            c: vec![0.0; k],
            exponent: 0,
            all_zero: true,
        });
    };
    let mut a = vec![0.0; k];
    let mut b = vec![0.0; k];
    let mut c = vec![0.0; k];
    for i in (0..k).filter(|&i| live(i)) {
        let half = -row_exp[i] / 2;
        a[i] = crate::balance::pow2(half);
        b[i] = crate::balance::pow2(-row_exp[i] - half);
        c[i] = scale_by_pow2(mantissas[i], row_exp[i] + w_exp[i] - exponent);
    }
    Ok(RowScales {
        a,
        b,
        c,
        exponent,
        all_zero: false,
    })
}

/// Sums over the scaled gradients: `Q_i = ||v_i||²`, `S = ||Σ v_i||²` and, when asked, the
/// scaled Gram matrix — all in one pass over column blocks.
struct GradientSums {
    q: Vec<f64>,
    s: f64,
    gram: Option<Vec<f64>>,
}

fn gradient_sums<T: Element>(
    g: &MatrixView<'_, T>,
    sc: &RowScales,
    with_gram: bool,
) -> GradientSums {
    let (k, n) = (g.rows, g.cols);
    let width = (65_536 / k).clamp(16, 4096).min(n);
    let mut buf = vec![0.0_f64; k * width];
    let mut q = vec![0.0_f64; k];
    let mut s = 0.0_f64;
    let mut gram = with_gram.then(|| vec![0.0_f64; k * k]);
    let mut start = 0;
    while start < n {
        let w = width.min(n - start);
        if g.col_stride <= g.row_stride {
            for i in 0..k {
                let row = &mut buf[i * width..i * width + w];
                for (jj, v) in row.iter_mut().enumerate() {
                    *v = g.get(i, start + jj) * sc.a[i] * sc.b[i] * sc.c[i];
                }
            }
        } else {
            for jj in 0..w {
                for i in 0..k {
                    buf[i * width + jj] = g.get(i, start + jj) * sc.a[i] * sc.b[i] * sc.c[i];
                }
            }
        }
        for jj in 0..w {
            let mut column_sum = 0.0;
            for i in 0..k {
                column_sum += buf[i * width + jj];
            }
            s += column_sum * column_sum;
        }
        for (i, qi) in q.iter_mut().enumerate() {
            let row = &buf[i * width..i * width + w];
            *qi += row.iter().map(|x| x * x).sum::<f64>();
        }
        if let Some(gram) = gram.as_mut() {
            for i in 0..k {
                let ri = &buf[i * width..i * width + w];
                for j in i + 1..k {
                    let rj = &buf[j * width..j * width + w];
                    gram[i * k + j] += ri.iter().zip(rj).map(|(x, y)| x * y).sum::<f64>();
                }
            }
        }
        start += w;
    }
    if let Some(gram) = gram.as_mut() {
        for i in 0..k {
            gram[i * k + i] = q[i];
            for j in i + 1..k {
                gram[j * k + i] = gram[i * k + j];
            }
        }
    }
    GradientSums { q, s, gram }
}

/// The pair search over normalised gradient rows, for K too large to keep a Gram matrix.
fn conflicts_from_rows<T: Element>(
    g: &MatrixView<'_, T>,
    sc: &RowScales,
    q: &[f64],
    m: usize,
) -> Vec<PairCosine> {
    let (k, n) = (g.rows, g.cols);
    let mut rows = vec![0.0_f64; k * n];
    for i in 0..k {
        let norm = q[i].sqrt();
        if norm == 0.0 {
            continue;
        }
        for j in 0..n {
            rows[i * n + j] = g.get(i, j) * sc.a[i] * sc.b[i] * sc.c[i] / norm;
        }
    }
    let mut best = Conflicts::new(m, k);
    for i in 0..k {
        if q[i] == 0.0 {
            continue;
        }
        let ri = &rows[i * n..(i + 1) * n];
        for j in i + 1..k {
            if q[j] == 0.0 {
                continue;
            }
            let rj = &rows[j * n..(j + 1) * n];
            let c = ri.iter().zip(rj).map(|(x, y)| x * y).sum::<f64>();
            best.offer(i, j, c.clamp(-1.0, 1.0));
        }
    }
    best.pairs
}

fn conflicts_from_gram(g: &[f64], k: usize, m: usize) -> Vec<PairCosine> {
    let mut best = Conflicts::new(m, k);
    for i in 0..k {
        for j in i + 1..k {
            let (di, dj) = (g[i * k + i], g[j * k + j]);
            if di > 0.0 && dj > 0.0 {
                best.offer(
                    i,
                    j,
                    (g[i * k + j] / (di.sqrt() * dj.sqrt())).clamp(-1.0, 1.0),
                );
            }
        }
    }
    best.pairs
}

/// Diagnoses K gradients (the rows of `g`, `K × n`).
///
/// # Errors
/// [`Error::TooFewObjectives`] for K < 2; [`Error::NonFiniteGradient`] naming the first
/// NaN or infinite entry; [`Error::InvalidParameter`] (`weights`) for a wrong count or a
/// non-finite weight; [`Error::TooLarge`] when a full cosine matrix was asked for above
/// its cap.
///
/// ```
/// use bflow::diagnose::{diagnose_gradients, DiagnoseParams, MatrixView};
/// // Two tasks pulling in opposite directions, n = 3, row-major.
/// let data = [1.0, 2.0, 0.0, -1.0, -2.0, 1e-3];
/// let d = diagnose_gradients(&MatrixView::row_major(&data, 2, 3)?, &DiagnoseParams::default())?;
/// assert!(d.b.unwrap() < 1e-6);
/// assert_eq!(d.conflicts.as_ref().unwrap()[0].i, 1);
/// # Ok::<(), bflow::Error>(())
/// ```
pub fn diagnose_gradients<T: Element>(
    g: &MatrixView<'_, T>,
    params: &DiagnoseParams,
) -> Result<Diagnosis> {
    let (k, n) = (g.rows, g.cols);
    if k < 2 {
        return Err(Error::TooFewObjectives { found: k });
    }
    let keep_cosines = cosines_wanted(k, params)?;
    // Per objective: its row scales, sums and norm, and a block of its row (at least 16
    // entries, or n): refused with the figure before any of it is allocated.
    within_cap(
        (k as u64).saturating_mul(48 + 8 * n.min(16) as u64),
        OBJECTIVES_WORK_MAX_BYTES,
        || format!("the working memory for K = {k} gradients of n = {n} parameters"),
        if k > n {
            "; if each column is one task, the input is transposed (one gradient per row \
             expected)"
        } else {
            ""
        },
    )?;
    let sc = row_scales(g, params.weights.as_deref())?;
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    if k > n {
        warnings.push(format!(
            "K = {k} gradients of only n = {n} parameters: if each column is one task, the file is transposed (one gradient per row expected)"
        ));
    }
    if sc.all_zero {
        let cosines = keep_cosines.then(|| vec![vec![None; k]; k]);
        return Ok(Diagnosis {
            k,
            n: Some(n),
            b: None,
            interaction: None,
            abs_i_plus_half: None,
            degenerate: true,
            gradient_norms: vec![0.0; k],
            sum_norm: 0.0,
            cosines,
            conflicts: Some(Vec::new()),
            losses: None,
            source: "gradients",
            b_resolution: None,
            notes,
            warnings,
        });
    }
    let pair_work = (k as f64) * (k as f64 - 1.0) / 2.0 * n as f64;
    let search = params.conflicts > 0 && (keep_cosines || pair_work <= PAIR_SEARCH_MAX_WORK);
    let gram_for_pairs = search && !keep_cosines && k <= GRAM_PAIRS_MAX_K;
    let sums = gradient_sums(g, &sc, keep_cosines || gram_for_pairs);
    let q_total: f64 = sums.q.iter().sum();
    let b = sums.s / q_total;
    let conflicts = if let Some(gram) = &sums.gram {
        Some(conflicts_from_gram(gram, k, params.conflicts))
    } else if search && (k as u64 * n as u64 * 8) <= PAIR_ROWS_MAX_BYTES {
        Some(conflicts_from_rows(g, &sc, &sums.q, params.conflicts))
    } else {
        if params.conflicts > 0 {
            notes.push(format!(
                "the most conflicting pairs were not searched: K(K−1)/2·n = {pair_work:.3e} multiply-adds (cap {PAIR_SEARCH_MAX_WORK:.3e}) or K·n too large to hold normalised"
            ));
        }
        None
    };
    let cosines = if keep_cosines {
        sums.gram.as_ref().map(|gram| cosines_from_scaled(gram, k))
    } else {
        None
    };
    let e2 = 2 * sc.exponent;
    Ok(Diagnosis {
        k,
        n: Some(n),
        b: Some(b),
        interaction: Some((b - 1.0) / 2.0),
        abs_i_plus_half: Some(b / 2.0),
        degenerate: false,
        gradient_norms: sums.q.iter().map(|&x| sqrt_unscaled(x, e2)).collect(),
        sum_norm: sqrt_unscaled(sums.s, e2),
        cosines,
        conflicts,
        losses: None,
        source: "gradients",
        b_resolution: None,
        notes,
        warnings,
    })
}

/// Diagnoses from a K×K Gram matrix `G = [g_i·g_j]` (checked as
/// [`ScaledGram::from_gram`] describes, with `T::GRAM_TOLERANCE`).
///
/// # Errors
/// [`Error::InvalidGram`] for a matrix no gradients can have; otherwise as
/// [`diagnose_gradients`].
pub fn diagnose_gram<T: Element>(
    g: &MatrixView<'_, T>,
    params: &DiagnoseParams,
) -> Result<Diagnosis> {
    let k = g.rows;
    if g.cols != k {
        return Err(Error::InvalidGram {
            message: format!("{}×{} is not square", g.rows, g.cols),
        });
    }
    if k < 2 {
        return Err(Error::TooFewObjectives { found: k });
    }
    let keep_cosines = cosines_wanted(k, params)?;
    within_cap(
        (k as u64).saturating_mul(k as u64).saturating_mul(8),
        GRAM_COPY_MAX_BYTES,
        || format!("the scaled copy of the {k}×{k} Gram matrix"),
        "; diagnose from the gradients, or from fewer objectives",
    )?;
    let tolerance = T::GRAM_TOLERANCE;
    let mut gram = ScaledGram::from_entries(k, tolerance, |i, j| g.get(i, j), k * k)?;
    if let Some(w) = &params.weights {
        gram = gram.weighted(w)?;
    }
    let bal = gram.balance_with(tolerance, keep_cosines)?;
    let conflicts = conflicts_from_gram(&gram.scaled, k, params.conflicts);
    let mut notes = Vec::new();
    if let Some(b) = bal.b()
        && b < bal.resolution
    {
        notes.push(format!(
            "B is below what a Gram matrix resolves (≈ {:.1e}: 1ᵀG1 cancels near an equilibrium); gradients give B to full precision",
            bal.resolution
        ));
    }
    Ok(Diagnosis {
        k,
        n: None,
        b: bal.b(),
        interaction: bal.interaction(),
        abs_i_plus_half: bal.abs_i_plus_half(),
        degenerate: bal.is_degenerate(),
        gradient_norms: bal.gradient_norms,
        sum_norm: bal.sum_norm,
        cosines: keep_cosines.then_some(bal.cosines),
        conflicts: Some(conflicts),
        losses: None,
        source: "gram",
        b_resolution: Some(bal.resolution),
        notes,
        warnings: Vec::new(),
    })
}

/// Diagnoses a problem's objectives at `theta`: the K gradients, plus the losses.
///
/// # Errors
/// [`Error::DimensionMismatch`] for a point of the wrong length, and
/// [`Error::NonFiniteStart`] naming the objective whose loss or gradient is not finite;
/// otherwise as [`diagnose_gradients`].
pub fn diagnose_at_point(
    objectives: &dyn Objectives<f64>,
    theta: &[f64],
    params: &DiagnoseParams,
) -> Result<Diagnosis> {
    let n = objectives.dim();
    if theta.len() != n {
        return Err(Error::DimensionMismatch {
            what: "point".into(),
            expected: n,
            found: theta.len(),
        });
    }
    let k = objectives.num_objectives();
    let mut gradients = vec![0.0; k * n];
    let mut losses = Vec::with_capacity(k);
    for (i, g) in gradients.chunks_mut(n.max(1)).enumerate().take(k) {
        objectives.gradient(i, theta, g);
        let loss = objectives.loss(i, theta);
        if !loss.is_finite() || g.iter().any(|x| !x.is_finite()) {
            return Err(Error::NonFiniteStart { index: i });
        }
        losses.push(loss);
    }
    let view = MatrixView::row_major(&gradients, k, n)?;
    let mut d = diagnose_gradients(&view, params)?;
    d.losses = Some(losses);
    // K > n is a property of the problem here, not a sign of a transposed file.
    d.warnings.clear();
    Ok(d)
}

/// Diagnoses every step of a trajectory of gradients (`T × K × n`).
///
/// # Errors
/// The first step's error as [`Error::AtStep`] (0-based step).
pub fn diagnose_gradient_trajectory<T: Element>(
    v: &TrajectoryView<'_, T>,
    params: &DiagnoseParams,
) -> Result<Vec<Diagnosis>> {
    check_trajectory_results(v.steps(), v.rows, params)?;
    (0..v.steps())
        .map(|t| {
            v.step(t)
                .and_then(|m| diagnose_gradients(&m, params))
                .map_err(|e| at_step(t, e))
        })
        .collect()
}

/// Diagnoses every step of a trajectory of Gram matrices (`T × K × K`).
///
/// # Errors
/// As [`diagnose_gradient_trajectory`].
pub fn diagnose_gram_trajectory<T: Element>(
    v: &TrajectoryView<'_, T>,
    params: &DiagnoseParams,
) -> Result<Vec<Diagnosis>> {
    check_trajectory_results(v.steps(), v.rows, params)?;
    (0..v.steps())
        .map(|t| {
            v.step(t)
                .and_then(|m| diagnose_gram(&m, params))
                .map_err(|e| at_step(t, e))
        })
        .collect()
}

/// Refuses, with the figure, a trajectory whose per-step diagnoses would take more than
/// [`TRAJECTORY_RESULTS_MAX_BYTES`]: each step keeps its `Diagnosis`, K norms, its listed
/// pairs, the cosine matrix when kept, and a little text.
fn check_trajectory_results(steps: usize, k: usize, params: &DiagnoseParams) -> Result<()> {
    let k64 = k as u64;
    let pairs = (params.conflicts as u64).min(k64.saturating_mul(k64.saturating_sub(1)) / 2);
    // A cosine matrix above its own cap is refused as such, whatever the number of steps.
    let cosines = if cosines_wanted(k, params)? {
        k64.saturating_mul(
            std::mem::size_of::<Vec<Option<f64>>>() as u64
                + k64.saturating_mul(std::mem::size_of::<Option<f64>>() as u64),
        )
    } else {
        0
    };
    let per_step = (std::mem::size_of::<Diagnosis>() as u64 + 128)
        .saturating_add(k64.saturating_mul(8))
        .saturating_add(pairs.saturating_mul(std::mem::size_of::<PairCosine>() as u64))
        .saturating_add(cosines);
    within_cap(
        per_step.saturating_mul(steps as u64),
        TRAJECTORY_RESULTS_MAX_BYTES,
        || format!("the diagnoses of {steps} steps (about {per_step} bytes each)"),
        "; diagnose the trajectory in parts",
    )
}

fn at_step(step: usize, e: Error) -> Error {
    match e {
        // A cap or a parameter is the same at every step: no step to name.
        Error::TooLarge { .. } | Error::InvalidParameter { .. } => e,
        other => Error::AtStep {
            step,
            source: Box::new(other),
        },
    }
}

#[cfg(test)]
mod tests;
