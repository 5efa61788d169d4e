"""bflow's exceptions and warnings.

Every exception raised for bad input carries the one-line message the ``bflow`` command
prints for the same input, and subclasses the builtin that fits, so ``except ValueError``
and ``except FileNotFoundError`` work as they do elsewhere.
"""

from __future__ import annotations

import errno
from typing import Optional

__all__ = [
    "BflowError",
    "BflowWarning",
    "FileError",
    "InputError",
    "MissingFileError",
    "ShardMismatch",
]


class BflowError(Exception):
    """Base class of every exception bflow raises on purpose."""


class InputError(BflowError, ValueError):
    """Input bflow cannot use: a bad array (dtype, shape, a NaN), a bad option value, a
    problem file or dict with an error (the message names the line and column, or the
    field), an unknown problem name, a problem without a region for mapping."""


class ShardMismatch(InputError):
    """Shard maps that do not merge into one map: different problems or settings, a slice
    missing or given twice, or a claimed equilibrium that is not one."""


class FileError(BflowError, OSError):
    """A file bflow cannot or will not read: not a regular file (a directory, a FIFO, a
    device), larger than the cap for its kind, not UTF-8, or an I/O error. ``filename``
    names it; ``str()`` is the command line's message."""

    def __init__(self, message: str, filename: Optional[str] = None) -> None:
        super().__init__(message)
        self.filename = filename
        self.strerror = message

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self):  # type: ignore[override]
        return (type(self), (str(self), self.filename))


class MissingFileError(FileError, FileNotFoundError):
    """A file that does not exist (or a broken symbolic link). ``filename`` names it;
    ``errno`` is ``ENOENT``."""

    def __init__(self, message: str, filename: Optional[str] = None) -> None:
        super().__init__(message, filename)
        self.errno = errno.ENOENT


class BflowWarning(UserWarning):
    """Signs that the input is not what it should be, e.g. K gradients of fewer than K
    parameters, which usually means the array is transposed (one gradient per row is
    expected)."""
