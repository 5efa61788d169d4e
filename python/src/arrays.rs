//! `diagnose`: numpy arrays into the library's strided views, without copying.

use bflow::diagnose::{
    DiagnoseParams, Diagnosis, Element, MatrixView, TrajectoryView, diagnose_gradient_trajectory,
    diagnose_gradients, diagnose_gram, diagnose_gram_trajectory,
};
use numpy::{
    PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::{IntoPy, input};

/// A numpy array's memory as a slice from its first element, with its shape and its strides
/// in elements (0 along axes of length 1, whose stride numpy leaves arbitrary).
struct Strided<'a, T> {
    data: &'a [T],
    shape: Vec<usize>,
    strides: Vec<usize>,
}

/// Borrows the array's buffer. Contiguous arrays (C or Fortran order) are taken through the
/// numpy crate's safe slice; other arrays with non-negative strides that are whole multiples
/// of the element size are read through a slice over the span from their first to their last
/// element. Anything else (negative or odd strides, unaligned data) is refused here: the
/// Python layer copies such arrays first.
fn strided<'a, T: numpy::Element>(
    array: &'a PyReadonlyArrayDyn<'_, T>,
) -> PyResult<Strided<'a, T>> {
    let py = array.py();
    let shape = array.shape().to_vec();
    let size = std::mem::size_of::<T>() as isize;
    let mut strides = Vec::with_capacity(shape.len());
    for (&d, &s) in shape.iter().zip(array.strides()) {
        if d <= 1 {
            strides.push(0);
        } else if s < 0 || s % size != 0 {
            return Err(input(
                py,
                format!(
                    "array strides {:?} bytes: negative or not whole elements",
                    array.strides()
                ),
            ));
        } else {
            strides.push((s / size) as usize);
        }
    }
    if shape.contains(&0) {
        return Ok(Strided {
            data: &[],
            shape,
            strides,
        });
    }
    if let Ok(data) = array.as_slice() {
        return Ok(Strided {
            data,
            shape,
            strides,
        });
    }
    if !array.is_aligned() {
        return Err(input(py, "array data is not aligned for its dtype"));
    }
    let span = shape
        .iter()
        .zip(&strides)
        .try_fold(1usize, |acc, (&d, &s)| {
            (d - 1).checked_mul(s).and_then(|x| acc.checked_add(x))
        })
        .ok_or_else(|| input(py, "array strides overflow"))?;
    let ptr: *const T = array.data();
    // SAFETY: `ptr` is the array's first element, non-null and aligned (checked above). With
    // non-negative strides every element lies in `ptr .. ptr + span`, and numpy keeps a view's
    // elements inside its base buffer, so the whole span is one allocation of initialised
    // `T`s (numpy arrays of float32/float64 hold plain values). The `PyReadonlyArray` borrow
    // (held by the caller for as long as the slice lives) forbids mutable borrows from Rust;
    // as with any numpy function that releases the GIL, Python code must not write to the
    // array from another thread meanwhile (documented on `bflow.diagnose`).
    let data = unsafe { std::slice::from_raw_parts(ptr, span) };
    Ok(Strided {
        data,
        shape,
        strides,
    })
}

/// The diagnoses of one array (`K×n`, `K×K`, `T×K×n` or `T×K×K`), with the GIL released.
fn diagnose_array<T: numpy::Element + Element>(
    py: Python<'_>,
    array: &Bound<'_, PyArrayDyn<T>>,
    gram: bool,
    params: &DiagnoseParams,
) -> PyResult<Vec<Diagnosis>> {
    let readonly = array.readonly();
    let v = strided(&readonly)?;
    let result = match v.shape.len() {
        2 => {
            let m = MatrixView::new(
                v.data,
                v.shape[0],
                v.shape[1],
                0,
                v.strides[0],
                v.strides[1],
            )
            .py(py)?;
            py.detach(|| {
                if gram {
                    diagnose_gram(&m, params)
                } else {
                    diagnose_gradients(&m, params)
                }
                .map(|d| vec![d])
            })
        }
        3 => {
            let t = TrajectoryView::new(
                v.data,
                [v.shape[0], v.shape[1], v.shape[2]],
                0,
                [v.strides[0], v.strides[1], v.strides[2]],
            )
            .py(py)?;
            py.detach(|| {
                if gram {
                    diagnose_gram_trajectory(&t, params)
                } else {
                    diagnose_gradient_trajectory(&t, params)
                }
            })
        }
        d => {
            return Err(input(
                py,
                format!(
                    "array has {d} dimensions: give K×n gradients (K×K with gram=True), or T×K×n (T×K×K) for a trajectory"
                ),
            ));
        }
    };
    result.py(py)
}

fn nan_if_none(x: Option<f64>) -> f64 {
    x.unwrap_or(f64::NAN)
}

/// Diagnoses `array` and returns the diagnoses as columns over the steps (one step for a
/// matrix): `B`, `I`, `abs_I_plus_half` (NaN where degenerate), `degenerate`, `norms` (T×K),
/// `sum_norm`, `cosines` (T×K×K, NaN where undefined; `None` when not kept), `conflicts` (per
/// step: a list of `(i, j, cosine)` with 0-based rows, or `None` when skipped),
/// `b_resolution` (`None` for gradients), `notes`, `warnings` (per step), `K`, `n`, `source`.
/// The extension module's `_bflow.diagnose`: `bflow.diagnose` prepares the array, holds the defaults
/// and builds the result classes.
#[pyfunction]
#[pyo3(signature = (array, *, gram, weights, full_cosines, conflicts))]
pub fn diagnose<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
    gram: bool,
    weights: Option<Vec<f64>>,
    full_cosines: bool,
    conflicts: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let params = DiagnoseParams {
        weights,
        full_cosines,
        conflicts,
    };
    let untyped = array.cast::<PyUntypedArray>().map_err(|_| {
        crate::errors::type_error(format!(
            "array: expected a numpy array, got {}",
            array
                .get_type()
                .name()
                .map_or_else(|_| "?".into(), |n| n.to_string())
        ))
    })?;
    let diagnoses = if let Ok(a) = untyped.cast::<PyArrayDyn<f64>>() {
        diagnose_array(py, a, gram, &params)?
    } else if let Ok(a) = untyped.cast::<PyArrayDyn<f32>>() {
        diagnose_array(py, a, gram, &params)?
    } else {
        return Err(input(
            py,
            format!(
                "array: dtype {} is not supported: give float32 or float64 (native byte order)",
                untyped.dtype().str()?
            ),
        ));
    };
    columns(py, &diagnoses)
}

fn columns<'py>(py: Python<'py>, ds: &[Diagnosis]) -> PyResult<Bound<'py, PyDict>> {
    let t = ds.len();
    let k = ds.first().map_or(0, |d| d.k);
    let out = PyDict::new(py);
    let scalar = |f: &dyn Fn(&Diagnosis) -> f64| -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, ds.iter().map(f).collect())
    };
    out.set_item("B", scalar(&|d| nan_if_none(d.b)))?;
    out.set_item("I", scalar(&|d| nan_if_none(d.interaction)))?;
    out.set_item(
        "abs_I_plus_half",
        scalar(&|d| nan_if_none(d.abs_i_plus_half)),
    )?;
    out.set_item("sum_norm", scalar(&|d| d.sum_norm))?;
    out.set_item(
        "degenerate",
        PyArray1::from_vec(py, ds.iter().map(|d| d.degenerate).collect()),
    )?;
    let norms: Vec<f64> = ds
        .iter()
        .flat_map(|d| d.gradient_norms.iter().copied())
        .collect();
    out.set_item("norms", PyArray1::from_vec(py, norms).reshape([t, k])?)?;
    if ds.iter().all(|d| d.cosines.is_some()) && t > 0 {
        let flat: Vec<f64> = ds
            .iter()
            .flat_map(|d| {
                d.cosines
                    .iter()
                    .flatten()
                    .flatten()
                    .map(|&c| nan_if_none(c))
            })
            .collect();
        out.set_item("cosines", PyArray1::from_vec(py, flat).reshape([t, k, k])?)?;
    } else {
        out.set_item("cosines", py.None())?;
    }
    if ds.iter().all(|d| d.b_resolution.is_some()) && t > 0 {
        out.set_item("b_resolution", scalar(&|d| nan_if_none(d.b_resolution)))?;
    } else {
        out.set_item("b_resolution", py.None())?;
    }
    let conflicts = PyList::empty(py);
    for d in ds {
        match &d.conflicts {
            Some(pairs) => {
                let items: Vec<(usize, usize, f64)> =
                    pairs.iter().map(|p| (p.i - 1, p.j - 1, p.cosine)).collect();
                conflicts.append(items)?;
            }
            None => conflicts.append(py.None())?,
        }
    }
    out.set_item("conflicts", conflicts)?;
    out.set_item(
        "notes",
        ds.iter().map(|d| d.notes.clone()).collect::<Vec<_>>(),
    )?;
    out.set_item(
        "warnings",
        ds.iter().map(|d| d.warnings.clone()).collect::<Vec<_>>(),
    )?;
    out.set_item("K", k)?;
    out.set_item("n", ds.first().and_then(|d| d.n))?;
    out.set_item("source", ds.first().map_or("gradients", |d| d.source))?;
    Ok(out)
}
