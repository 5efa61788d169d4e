//! bflow's errors as Python exceptions.
//!
//! The exception classes live in the pure-Python module `bflow._errors` (a class can subclass
//! two builtins there, `InputError(BflowError, ValueError)`); this module looks them up once
//! and raises them with the one-line message the command line prints.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

static INPUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static FILE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static MISSING_FILE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static SHARD: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<Bound<'py, PyType>> {
    cell.import(py, "bflow._errors", name).cloned()
}

/// Bad input: `bflow.InputError` (a `ValueError`) with `message`.
pub fn input(py: Python<'_>, message: impl std::fmt::Display) -> PyErr {
    match class(py, &INPUT, "InputError") {
        Ok(ty) => PyErr::from_type(ty, message.to_string()),
        Err(e) => e,
    }
}

/// A wrong argument type: the builtin `TypeError`.
pub fn type_error(message: impl std::fmt::Display) -> PyErr {
    PyTypeError::new_err(message.to_string())
}

/// An exception of class `ty` (`FileError(message, filename)`).
fn with_filename(ty: Bound<'_, PyType>, message: String, file: &str) -> PyErr {
    match ty.call1((message, file)) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// The Python exception for a library error, its message as the CLI prints it:
/// `bflow.MissingFileError` (a `FileNotFoundError`) for a file that does not exist,
/// `bflow.FileError` (an `OSError`) for one that cannot be read, `bflow.ShardMismatch` for
/// shards that do not merge, `bflow.InputError` (a `ValueError`) for everything else.
pub fn from_bflow(py: Python<'_>, e: bflow::Error) -> PyErr {
    let message = e.to_string();
    match &e {
        bflow::Error::FileRead {
            file,
            message: what,
        }
        | bflow::Error::ProblemFileRead {
            file,
            message: what,
        } => {
            let (cell, name) = if what == "no such file" || what.starts_with("broken symbolic link")
            {
                (&MISSING_FILE, "MissingFileError")
            } else {
                (&FILE, "FileError")
            };
            match class(py, cell, name) {
                Ok(ty) => with_filename(ty, message, file),
                Err(err) => err,
            }
        }
        bflow::Error::ShardMismatch { .. } => match class(py, &SHARD, "ShardMismatch") {
            Ok(ty) => PyErr::from_type(ty, message),
            Err(err) => err,
        },
        _ => input(py, message),
    }
}

/// `Result<T, bflow::Error>` into `PyResult<T>`.
pub trait IntoPy<T> {
    /// Maps the error with [`from_bflow`].
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for bflow::Result<T> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| from_bflow(py, e))
    }
}
