"""``bflow.diagnose`` and its results, ``Diagnosis`` and ``Trajectory``."""

from __future__ import annotations

import numbers
import warnings
from typing import (
    Any,
    Dict,
    Iterable,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Union,
    overload,
)

import numpy as np

from . import _bflow
from ._errors import BflowWarning, InputError

__all__ = ["Conflict", "Diagnosis", "Trajectory", "diagnose"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class Conflict(NamedTuple):
    """A pair of tasks and the cosine of their gradients (rows ``i < j`` of the input,
    counted from 0)."""

    i: int
    j: int
    cosine: float


def _as_float_array(array: Any) -> np.ndarray:
    """The input as a float32/float64 array that bflow reads in place.

    numpy arrays of float32 or float64 pass unchanged (no copy), whatever their order or
    non-negative strides. A copy is made only for layouts the library cannot address:
    negative strides (``a[::-1]``), strides that are not whole elements, unaligned data, or
    a non-native byte order. Lists and other array-likes are converted to float64.
    """
    if isinstance(array, np.ndarray):
        a = array
    elif array is None:
        raise TypeError("array: expected an array of gradients (or Gram matrices), got None")
    else:
        try:
            a = np.asarray(array)
        except (TypeError, ValueError) as e:
            raise InputError(f"array: not an array of numbers ({e})") from None
        if a.dtype.kind in "biu":
            a = a.astype(np.float64)
    if a.dtype.kind == "f" and a.dtype.itemsize in (4, 8) and not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype not in _FLOATS:
        raise InputError(
            f"array: dtype {a.dtype} is not supported: give float32 or float64 "
            "(for example array.astype(numpy.float64))"
        )
    if a.ndim not in (2, 3):
        raise InputError(
            f"array has {a.ndim} dimensions (shape {a.shape}): give K×n gradients "
            "(K×K with gram=True), or T×K×n (T×K×K) for a trajectory"
        )
    itemsize = a.dtype.itemsize
    addressable = a.flags.aligned and all(
        s >= 0 and s % itemsize == 0 for d, s in zip(a.shape, a.strides) if d > 1
    )
    if not addressable:
        # A fresh C-order copy: aligned and in native order whatever the input was
        # (``np.ascontiguousarray`` returns a C-contiguous but misaligned array unchanged).
        a = a.copy(order="C")
    return a


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=6, separator=", ")
    return repr(value)


def _result_repr(items: Dict[str, Any]) -> str:
    """``scipy.optimize.OptimizeResult``'s layout: right-aligned keys, one per line."""
    width = max(len(k) for k in items)
    lines = []
    for key, value in items.items():
        text = _format_value(value).replace("\n", "\n" + " " * (width + 2))
        lines.append(f"{key.rjust(width)}: {text}")
    return "\n".join(lines)


def _scalar(x: Any) -> float:
    return float(x)


class Diagnosis:
    """The balance of one state: K per-task gradients, or their Gram matrix.

    Attributes
    ----------
    B : float
        The balance residual ``||Σ g_i||² / Σ ||g_i||²`` in ``[0, K]``; 0 exactly at an
        equilibrium. NaN when ``degenerate`` (every gradient is zero: 0/0).
    I : float
        The interaction ratio ``(B − 1)/2`` (−½ at an equilibrium, 0 for orthogonal
        gradients, positive when they agree). NaN when degenerate.
    abs_I_plus_half : float
        ``|I + ½| = B/2``. NaN when degenerate.
    degenerate : bool
        Every gradient vanishes, so B is 0/0.
    norms : numpy.ndarray
        ``||g_i||``, shape (K,) (of ``w_i g_i`` with weights; ∞ beyond the float range).
    sum_norm : float
        ``||Σ g_i||``.
    cosines : numpy.ndarray or None
        The K×K matrix of ``cos(g_i, g_j)``, NaN where a gradient is zero. Kept for
        K ≤ 16, or on request (``full_cosines=True``); None otherwise.
    conflicts : list of Conflict or None
        The most conflicting pairs (most negative cosines first; only negative ones),
        rows counted from 0. None when the search was skipped (see ``notes``).
    K : int
        The number of tasks.
    n : int or None
        The number of parameters (None from a Gram matrix).
    source : str
        ``"gradients"`` or ``"gram"``.
    b_resolution : float or None
        From a Gram matrix, the smallest B it resolves (about K² ε: ``1ᵀG1`` cancels near
        an equilibrium); None from gradients, which give B to full precision.
    notes : list of str
        What was skipped or should be known.
    warnings : list of str
        Signs that the input is not what it should be (also issued as ``BflowWarning``).
    """

    __slots__ = (
        "B",
        "I",
        "abs_I_plus_half",
        "degenerate",
        "norms",
        "sum_norm",
        "cosines",
        "conflicts",
        "K",
        "n",
        "source",
        "b_resolution",
        "notes",
        "warnings",
    )

    def __init__(
        self,
        *,
        B: float,
        I: float,  # noqa: E741 (the quantity's name)
        abs_I_plus_half: float,
        degenerate: bool,
        norms: np.ndarray,
        sum_norm: float,
        cosines: Optional[np.ndarray],
        conflicts: Optional[List[Conflict]],
        K: int,
        n: Optional[int],
        source: str,
        b_resolution: Optional[float] = None,
        notes: Sequence[str] = (),
        warnings: Sequence[str] = (),
    ) -> None:
        self.B = B
        self.I = I
        self.abs_I_plus_half = abs_I_plus_half
        self.degenerate = degenerate
        self.norms = norms
        self.sum_norm = sum_norm
        self.cosines = cosines
        self.conflicts = conflicts
        self.K = K
        self.n = n
        self.source = source
        self.b_resolution = b_resolution
        self.notes = list(notes)
        self.warnings = list(warnings)

    @classmethod
    def _from_columns(cls, cols: Dict[str, Any], t: int) -> "Diagnosis":
        conflicts = cols["conflicts"][t]
        res = cols["b_resolution"]
        return cls(
            B=_scalar(cols["B"][t]),
            I=_scalar(cols["I"][t]),
            abs_I_plus_half=_scalar(cols["abs_I_plus_half"][t]),
            degenerate=bool(cols["degenerate"][t]),
            norms=cols["norms"][t],
            sum_norm=_scalar(cols["sum_norm"][t]),
            cosines=None if cols["cosines"] is None else cols["cosines"][t],
            conflicts=None if conflicts is None else [Conflict(*c) for c in conflicts],
            K=int(cols["K"]),
            n=cols["n"],
            source=cols["source"],
            b_resolution=None if res is None else _scalar(res[t]),
            notes=cols["notes"][t],
            warnings=cols["warnings"][t],
        )

    def to_dict(self) -> Dict[str, Any]:
        """The diagnosis as plain Python values (lists, floats; NaN where undefined),
        ready for ``json.dumps`` (with ``allow_nan``) or a log."""
        return {
            "B": self.B,
            "I": self.I,
            "abs_I_plus_half": self.abs_I_plus_half,
            "degenerate": self.degenerate,
            "norms": self.norms.tolist(),
            "sum_norm": self.sum_norm,
            "cosines": None if self.cosines is None else self.cosines.tolist(),
            "conflicts": None
            if self.conflicts is None
            else [c._asdict() for c in self.conflicts],
            "K": self.K,
            "n": self.n,
            "source": self.source,
            "b_resolution": self.b_resolution,
            "notes": list(self.notes),
            "warnings": list(self.warnings),
        }

    def __repr__(self) -> str:
        items: Dict[str, Any] = {
            "B": self.B,
            "I": self.I,
            "abs_I_plus_half": self.abs_I_plus_half,
            "degenerate": self.degenerate,
            "norms": self.norms,
            "sum_norm": self.sum_norm,
        }
        if self.cosines is not None:
            items["cosines"] = self.cosines
        items["conflicts"] = self.conflicts
        items["K"] = self.K
        items["n"] = self.n
        items["source"] = self.source
        if self.b_resolution is not None:
            items["b_resolution"] = self.b_resolution
        if self.notes:
            items["notes"] = self.notes
        if self.warnings:
            items["warnings"] = self.warnings
        return _result_repr(items)


class Trajectory:
    """Diagnoses over steps (of training, say): one entry per step.

    Attributes
    ----------
    steps : numpy.ndarray
        The step labels, shape (T,): 0..T−1 for a T×K×n array, or as given to
        :meth:`from_diagnoses`.
    B, I, abs_I_plus_half, sum_norm : numpy.ndarray
        Per step, shape (T,), NaN where degenerate (see :class:`Diagnosis`).
    degenerate : numpy.ndarray
        Per step, bool, shape (T,).
    norms : numpy.ndarray
        ``||g_i||`` per step, shape (T, K).
    cosines : numpy.ndarray or None
        Shape (T, K, K), NaN where undefined; None unless every step kept its matrix.
    conflicts, notes, warnings : list
        Per step, as :class:`Diagnosis` has them.
    K : int
    source : str
    """

    __slots__ = (
        "steps",
        "B",
        "I",
        "abs_I_plus_half",
        "sum_norm",
        "degenerate",
        "norms",
        "cosines",
        "conflicts",
        "notes",
        "warnings",
        "b_resolution",
        "K",
        "n",
        "source",
    )

    def __init__(self, cols: Dict[str, Any], steps: Optional[Iterable[Any]] = None) -> None:
        t = len(cols["B"])
        self.B = np.asarray(cols["B"], dtype=np.float64)
        self.I = np.asarray(cols["I"], dtype=np.float64)
        self.abs_I_plus_half = np.asarray(cols["abs_I_plus_half"], dtype=np.float64)
        self.sum_norm = np.asarray(cols["sum_norm"], dtype=np.float64)
        self.degenerate = np.asarray(cols["degenerate"], dtype=bool)
        self.norms = np.asarray(cols["norms"], dtype=np.float64)
        self.cosines = None if cols["cosines"] is None else np.asarray(cols["cosines"])
        self.conflicts = [
            None if c is None else [Conflict(*p) for p in c] for c in cols["conflicts"]
        ]
        self.notes = [list(x) for x in cols["notes"]]
        self.warnings = [list(x) for x in cols["warnings"]]
        res = cols["b_resolution"]
        self.b_resolution = None if res is None else np.asarray(res, dtype=np.float64)
        self.K = int(cols["K"])
        self.n = cols["n"]
        self.source = cols["source"]
        self.steps = np.arange(t) if steps is None else np.asarray(list(steps))
        if len(self.steps) != t:
            raise InputError(f"steps: {len(self.steps)} labels for {t} diagnoses")

    @classmethod
    def from_diagnoses(
        cls, diagnoses: Sequence[Diagnosis], steps: Optional[Iterable[Any]] = None
    ) -> "Trajectory":
        """A trajectory of diagnoses made one step at a time (each ``bflow.diagnose`` of a
        K×n array, say, during training), labelled by ``steps`` (default 0..T−1). Every
        diagnosis must have the same K."""
        diagnoses = list(diagnoses)
        if not diagnoses:
            raise InputError("diagnoses: at least one diagnosis is needed")
        ks = {d.K for d in diagnoses}
        if len(ks) != 1:
            raise InputError(f"diagnoses: every step needs the same K, got K = {sorted(ks)}")
        k = diagnoses[0].K
        keep_cos = all(d.cosines is not None for d in diagnoses)
        keep_res = all(d.b_resolution is not None for d in diagnoses)
        sources = {d.source for d in diagnoses}
        cols = {
            "B": [d.B for d in diagnoses],
            "I": [d.I for d in diagnoses],
            "abs_I_plus_half": [d.abs_I_plus_half for d in diagnoses],
            "sum_norm": [d.sum_norm for d in diagnoses],
            "degenerate": [d.degenerate for d in diagnoses],
            "norms": np.stack([np.asarray(d.norms, dtype=np.float64) for d in diagnoses])
            if k
            else np.zeros((len(diagnoses), 0)),
            "cosines": np.stack([d.cosines for d in diagnoses]) if keep_cos else None,
            "conflicts": [
                None if d.conflicts is None else [tuple(c) for c in d.conflicts]
                for d in diagnoses
            ],
            "notes": [d.notes for d in diagnoses],
            "warnings": [d.warnings for d in diagnoses],
            "b_resolution": [d.b_resolution for d in diagnoses] if keep_res else None,
            "K": k,
            "n": diagnoses[0].n if len({d.n for d in diagnoses}) == 1 else None,
            "source": sources.pop() if len(sources) == 1 else "mixed",
        }
        return cls(cols, steps)

    def __len__(self) -> int:
        return len(self.B)

    @overload
    def __getitem__(self, t: int) -> Diagnosis: ...

    @overload
    def __getitem__(self, t: slice) -> List[Diagnosis]: ...

    def __getitem__(self, t: Union[int, slice]) -> Union[Diagnosis, List[Diagnosis]]:
        """The diagnosis at position ``t`` (0-based, not the step label; negative counts
        from the end), or a list of them for a slice (``traj[-10:]``)."""
        if isinstance(t, slice):
            return [self[i] for i in range(*t.indices(len(self)))]
        if isinstance(t, bool) or not isinstance(t, numbers.Integral):
            raise TypeError(f"step position: expected an integer or a slice, got {type(t).__name__}")
        t = int(t)
        if not -len(self) <= t < len(self):
            raise IndexError(f"step position {t} of {len(self)}")
        t = t % len(self)
        return Diagnosis(
            B=float(self.B[t]),
            I=float(self.I[t]),
            abs_I_plus_half=float(self.abs_I_plus_half[t]),
            degenerate=bool(self.degenerate[t]),
            norms=self.norms[t],
            sum_norm=float(self.sum_norm[t]),
            cosines=None if self.cosines is None else self.cosines[t],
            conflicts=self.conflicts[t],
            K=self.K,
            n=self.n,
            source=self.source,
            b_resolution=None if self.b_resolution is None else float(self.b_resolution[t]),
            notes=self.notes[t],
            warnings=self.warnings[t],
        )

    def to_dict(self) -> Dict[str, np.ndarray]:
        """Columns of equal length T, for ``pandas.DataFrame(traj.to_dict())``: ``step``,
        ``B``, ``I``, ``abs_I_plus_half``, ``sum_norm``, ``degenerate``, ``norm_i`` for each
        task i, and ``cos_i_j`` for each pair i < j when the cosines were kept (tasks
        counted from 0)."""
        out: Dict[str, np.ndarray] = {
            "step": self.steps,
            "B": self.B,
            "I": self.I,
            "abs_I_plus_half": self.abs_I_plus_half,
            "sum_norm": self.sum_norm,
            "degenerate": self.degenerate,
        }
        for i in range(self.K):
            out[f"norm_{i}"] = self.norms[:, i]
        if self.cosines is not None:
            for i in range(self.K):
                for j in range(i + 1, self.K):
                    out[f"cos_{i}_{j}"] = self.cosines[:, i, j]
        return out

    def plot(self, path: Optional[str] = None, ax: Any = None) -> Any:
        """Plots B and |I + ½| over the steps (log scale) and, when the cosines were kept,
        each pair's cosine over the steps (one line per pair), with matplotlib.

        Parameters
        ----------
        path : str or os.PathLike, optional
            Save the figure there (any format matplotlib writes: .png, .svg, .pdf).
        ax : matplotlib Axes or a pair of them, optional
            Draw into these instead of a new figure: a pair ``(balance, cosines)``, or one
            Axes for the balance panel alone.

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        ImportError
            When matplotlib is not installed (``pip install matplotlib`` or
            ``pip install bflow[plot]``).
        """
        try:
            import matplotlib

            if ax is None and path is not None:
                # Saving only: no display needed.
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError(
                "Trajectory.plot needs matplotlib, which is not installed: "
                "pip install matplotlib (or pip install bflow[plot])"
            ) from e
        want_cos = self.cosines is not None and self.K >= 2
        if ax is None:
            rows = 2 if want_cos else 1
            fig, axes = plt.subplots(rows, 1, sharex=True, figsize=(7, 3.2 * rows), squeeze=False)
            ax_b = axes[0][0]
            ax_c = axes[1][0] if want_cos else None
        elif isinstance(ax, (list, tuple)) or (isinstance(ax, np.ndarray) and ax.size == 2):
            ax_b, ax_c = list(np.ravel(ax)) if isinstance(ax, np.ndarray) else list(ax)
            fig = ax_b.figure
        else:
            ax_b, ax_c = ax, None
            fig = ax_b.figure
        x = self.steps
        ax_b.plot(x, self.B, label="B")
        ax_b.plot(x, self.abs_I_plus_half, label="|I + ½| = B/2", linestyle="--")
        if np.any(self.B > 0):
            ax_b.set_yscale("log")
        ax_b.set_ylabel("balance")
        ax_b.set_title(f"balance over steps (K = {self.K})")
        ax_b.legend(loc="best")
        ax_b.grid(True, which="both", alpha=0.3)
        if ax_c is not None and want_cos:
            for i in range(self.K):
                for j in range(i + 1, self.K):
                    ax_c.plot(x, self.cosines[:, i, j], label=f"cos(g{i}, g{j})")
            ax_c.axhline(0.0, color="grey", linewidth=0.8)
            ax_c.set_ylim(-1.05, 1.05)
            ax_c.set_ylabel("cosine")
            if self.K <= 8:
                ax_c.legend(loc="best", fontsize="small")
            ax_c.grid(True, alpha=0.3)
            ax_c.set_xlabel("step")
        else:
            ax_b.set_xlabel("step")
        if path is not None:
            fig.savefig(path, bbox_inches="tight")
        return fig

    def __repr__(self) -> str:
        def span(a: np.ndarray) -> str:
            finite = a[np.isfinite(a)]
            if finite.size == 0:
                return "all NaN"
            return f"{finite.min():.6g} … {finite.max():.6g}"

        items: Dict[str, Any] = {
            "steps": len(self),
            "K": self.K,
            "n": self.n,
            "source": self.source,
            "B": span(self.B),
            "abs_I_plus_half": span(self.abs_I_plus_half),
            "degenerate": int(self.degenerate.sum()),
            "cosines": "kept" if self.cosines is not None else "not kept",
        }
        body = _result_repr({k: v for k, v in items.items()})
        return "Trajectory\n" + body


def _issue_warnings(per_step: List[List[str]], trajectory: bool) -> None:
    seen: Dict[str, List[int]] = {}
    for t, ws in enumerate(per_step):
        for w in ws:
            seen.setdefault(w, []).append(t)
    for message, steps in seen.items():
        if trajectory:
            where = f"step {steps[0]}" if len(steps) == 1 else f"{len(steps)} steps"
            message = f"{message} ({where})"
        warnings.warn(message, BflowWarning, stacklevel=3)


def diagnose(
    array: Any,
    *,
    gram: bool = False,
    weights: Optional[Sequence[float]] = None,
    full_cosines: Optional[bool] = None,
    conflicts: int = 5,
) -> Union[Diagnosis, Trajectory]:
    """Diagnoses the balance of K tasks from their gradients or their Gram matrix.

    Parameters
    ----------
    array : numpy.ndarray
        float32 or float64, in any order or strides. Shape K×n: one gradient per row (K
        tasks, n shared parameters); or, with ``gram=True``, the K×K Gram matrix
        ``G = grads @ grads.T``. A 3-D array (T×K×n or T×K×K) is a trajectory of T steps.
        The array is read in place: no copy is made (except for negative strides, strides
        that are not whole elements, unaligned data or a non-native byte order), and the
        GIL is released while bflow reads it, so do not write to it from another thread
        meanwhile. Sums are accumulated in float64.
    gram : bool
        The input is a Gram matrix (checked: symmetric to rounding, non-negative diagonal,
        ``|G_ij| ≤ √(G_ii G_jj)``). From a Gram matrix B is resolved only to about K² ε
        (``b_resolution``); from gradients to full precision.
    weights : sequence of K floats, optional
        Diagnose ``Σ w_i g_i``: each gradient becomes ``w_i g_i`` (a Gram matrix ``W G W``).
    full_cosines : bool, optional
        Keep the K×K cosine matrix for K > 16 too (it is kept for K ≤ 16 anyway); refused
        with an InputError above 512 MiB. The most conflicting pairs are listed either way.
    conflicts : int
        How many of the most conflicting pairs to list (default 5).

    Returns
    -------
    Diagnosis
        For a 2-D array.
    Trajectory
        For a 3-D array.

    Raises
    ------
    InputError
        For a dtype other than float32/float64 (the message names it), a shape that is not
        2-D or 3-D, K < 2, a NaN or infinite entry (named by task and component, and by
        step for a trajectory), a wrong number of weights, or an invalid Gram matrix; and,
        with the figure, inputs whose results would exceed a memory cap (a Gram matrix
        above K = 23170, a trajectory whose per-step results would pass 1 GiB).
    TypeError
        For ``array=None``, or ``gram`` / ``full_cosines`` that are not booleans.

    Warns
    -----
    BflowWarning
        When the input looks transposed (K > n: more tasks than parameters).

    Examples
    --------
    >>> import numpy as np, bflow
    >>> g = np.array([[1.0, 2.0, 0.0], [-1.0, -2.0, 1e-3]])
    >>> d = bflow.diagnose(g)
    >>> d.B < 1e-6, d.conflicts[0][:2]
    (True, (0, 1))
    """
    a = _as_float_array(array)
    w = None
    if weights is not None:
        try:
            wa = np.asarray(weights, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise InputError(f"weights: expected K numbers ({e})") from None
        if wa.ndim != 1:
            raise InputError(f"weights: expected K numbers, got an array of shape {wa.shape}")
        w = wa.tolist()
    for name, flag in (("gram", gram), ("full_cosines", full_cosines)):
        # A string such as "False" would be true: only booleans (and None for the default
        # of full_cosines) are taken.
        if not (isinstance(flag, (bool, np.bool_)) or (flag is None and name == "full_cosines")):
            raise TypeError(f"{name}: expected True or False, got {type(flag).__name__}")
    if isinstance(conflicts, bool) or not isinstance(conflicts, (int, np.integer)) or conflicts < 0:
        raise InputError(f"conflicts: expected a count ≥ 0, got {conflicts!r}")
    cols = _bflow.diagnose(
        a,
        gram=bool(gram),
        weights=w,
        full_cosines=bool(full_cosines),
        # Any count beyond the K(K − 1)/2 pairs lists them all.
        conflicts=min(int(conflicts), (1 << 64) - 1),
    )
    trajectory = a.ndim == 3
    _issue_warnings(cols["warnings"], trajectory)
    if not trajectory:
        return Diagnosis._from_columns(cols, 0)
    return Trajectory(cols)
