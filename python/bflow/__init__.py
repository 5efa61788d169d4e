"""bflow: find, certify and map the equilibria of K competing objectives, and diagnose how
far a multi-task system is from balance.

The balance residual ``B = ||Σ g_i||² / Σ ||g_i||²`` (0 exactly at an equilibrium, where the
per-task gradients ``g_i`` cancel) and the interaction ratio ``I = (B − 1)/2`` measure
gradient conflict:

>>> import numpy as np, bflow
>>> grads = np.random.default_rng(0).standard_normal((3, 1000)).astype(np.float32)
>>> d = bflow.diagnose(grads)               # one row per task; no copy is made
>>> 0.0 <= d.B <= 3.0
True

Functions
---------
diagnose   B, I, |I + ½|, norms, cosines and conflicting pairs of K gradients (or their Gram
           matrix); a 3-D array gives a Trajectory.
map        every equilibrium of a problem in its region: ``bflow map --json``'s content.
run        one flow from one start: ``bflow run --json``'s content.
merge      shard maps into one map, as ``bflow merge`` does.
problems   the built-in problems.
problem_toml  a problem dict as the problem file it stands for.
dask.map   ``map`` with one Dask task per shard (``pip install bflow[dask]``).

Every error for bad input raises an exception whose message is the command line's one-line
message: :class:`InputError` (a ``ValueError``), :class:`MissingFileError` (a
``FileNotFoundError``), :class:`FileError` (an ``OSError``), :class:`ShardMismatch`; all
are :class:`BflowError`. An argument of the wrong type raises ``TypeError``, naming it.
"""

from __future__ import annotations

import numbers
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from . import _bflow
from . import dask
from ._diagnose import Conflict, Diagnosis, Trajectory, diagnose
from ._errors import (
    BflowError,
    BflowWarning,
    FileError,
    InputError,
    MissingFileError,
    ShardMismatch,
)

__version__: str = _bflow.__version__

__all__ = [
    "BflowError",
    "BflowWarning",
    "Conflict",
    "Diagnosis",
    "FileError",
    "InputError",
    "MissingFileError",
    "ShardMismatch",
    "Trajectory",
    "__version__",
    "dask",
    "diagnose",
    "map",
    "merge",
    "problem_toml",
    "problems",
    "run",
]

Problem = Union[str, "os.PathLike[str]", Dict[str, Any]]
"""A problem: a path to a problem file, a built-in name, or a dict in the problem file's
form (see :func:`map`)."""


_COUNT_MAX = (1 << 64) - 1


def _count(name: str, value: Any) -> Any:
    """An integer option as the extension takes it: ``None`` passes; a non-integer (or a
    bool) is a ``TypeError``, a negative value or one of 2⁶⁴ or more an :class:`InputError`
    naming the option (the extension checks each option's own range and says it)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    if not 0 <= value <= _COUNT_MAX:
        raise InputError(f"{name}: must be an integer in 0..2⁶⁴, got {value}")
    return int(value)


def _number(name: str, value: Any) -> Any:
    """A real-valued option as the extension takes it: ``None`` passes; a bool (``True``
    would be taken for 1) or a non-number is a ``TypeError`` naming the option."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    return float(value)


def problems() -> List[Tuple[str, str]]:
    """The built-in problems as ``(name, summary)`` pairs, as ``bflow problems`` lists them.
    Pass a name as ``problem`` to :func:`map` or :func:`run`."""
    return [tuple(p) for p in _bflow.problems()]  # type: ignore[misc]


def problem_toml(problem: Dict[str, Any]) -> str:
    """The problem file (TOML text) for a dict problem: what :func:`map` and :func:`run`
    parse. Write it to a ``.toml`` file to use the problem with the ``bflow`` command (for
    example ``bflow merge`` of maps made from a dict, whose ``problem_source`` is null)."""
    return _bflow.problem_toml(problem)


def map(  # noqa: A001 (the command's name)
    problem: Problem,
    *,
    starts: Optional[int] = None,
    max_starts: int = 1 << 16,
    seed: int = 0,
    shard: Union[str, Tuple[int, int], None] = None,
    searchers: Union[Sequence[str], str] = ("newton", "bflow", "lossflow", "ascent"),
    bflow_steps: int = 200,
    mode_starts: bool = True,
    max_time: Optional[float] = None,
    per_start: bool = False,
    prove: Union[bool, float] = False,
) -> Dict[str, Any]:
    """Finds, classifies and certifies every equilibrium of ``problem`` in its region.

    The result is the JSON ``bflow map PROBLEM --json`` writes, as Python objects (numbers
    that are not finite are None), with ``problem_source`` so that ``bflow merge`` reloads
    the problem: ``equilibria`` (each with ``point``, ``kind``, ``morse_index``,
    ``eigenvalues``, ``B``, ``certified_radius``, ``basin_share``, ``found_by``, …),
    ``morse_counts``, ``spurious``, ``outcomes``, ``completeness``, ``params``, ``seconds``.
    The same problem and options give the same map, whatever the thread count.

    Parameters
    ----------
    problem : str, os.PathLike or dict
        A path to a problem file (TOML), a built-in name (see :func:`problems`), or a dict
        in the problem file's form::

            {"vars": ["x", "y"],
             "objectives": ["(x^2 + y - a)^2", {"name": "L2", "expr": "(x + y^2 - 7)^2"}],
             "params": {"a": 11.0},
             "region": {"x": [-6, 6], "y": [-6, 6]},
             "start": {"x": -3, "y": -3}}

        (also ``name``, ``description``, ``equilibria``). A dict is written as a problem
        file and parsed by the same parser, so its errors are the file's (named
        ``problem-dict:LINE:COLUMN``, see :func:`problem_toml`). Mapping needs a region.
    starts : int, optional
        A fixed number of starts (Halton points in the region). Without it the map runs
        rounds ending at F, 2F, 2.5F, 3F, 3.5F, 4F, 5F, … starts (F = 128, 512, 2048, 8192
        for n ≤ 3, 4, 5, ≥ 6 parameters; 256 in 3-D with ``mode_starts=False``) until the last
        half of its starts found nothing new and its hits say it looks complete (the estimate
        of unfound equilibria below ½ and its 95 % bound below the number found), or
        ``max_starts``.
    max_starts : int
        The most starts an adaptive map runs (default 65 536).
    seed : int
        Seed of the Halton shift.
    shard : "I/N" or (I, N), optional
        Map only the starts with index mod N = I (needs ``starts``); merge the N shard maps
        with :func:`merge`.
    searchers : list of str or "a,b"
        The searches from every start, the first the primary: ``newton``, ``bflow``,
        ``lossflow``, ``ascent`` (default: all four). With one objective B-flow is dropped
        (B ≡ 1 there). B-flow descends B of the objectives' additive terms where they are
        sums (cut at their top-level ``+`` and ``-``), so grouping the same terms into
        fewer objectives does not change what the map finds.
    bflow_steps : int
        B-flow step budget per search.
    mode_starts : bool
        Once the starts are done, run Newton from each equilibrium found (minimum, saddle or
        maximum), displaced along each eigenvector of its Hessian that leads to a saddle (a
        few hundred searches in 4-D): they find saddles whose basins are too small for the
        random starts. What they add is marked
        ``found_by == ["modes"]``, and counted in ``completeness["mode_found"]``. The
        passes after the first run at most as many searches as the first;
        ``completeness["mode_budget_spent"]`` is true when they reached that budget (the
        starts missed much of the set: run more starts or prove the map).
    max_time : float, optional
        Stop after this many seconds; the map then covers the starts run so far and says so
        (``completeness.stopped == "time-limit"``). Such a map runs no mode starts; a limit
        reached during them cuts them short, and the map says ``"time-limit"`` though every
        start ran.
    per_start : bool
        Also return every start's searches (``per_start``; memory grows with the starts:
        refused, as by the command line, for a map that may run more than 65536 starts).
    prove : bool or float
        Also run the interval proof of completeness over the region (True: a 30 s budget; a
        number: that many seconds); equilibria it finds that the searches missed are added.

    Raises
    ------
    InputError
        For a bad option value (the message names it), a problem file or dict with an
        error, an unknown problem name, a problem without a region.
    MissingFileError
        When the problem file does not exist (a ``FileNotFoundError``).
    TypeError
        For an unknown option.
    KeyboardInterrupt
        On Ctrl-C (checked between batches of starts, and every 64 boxes of the proof).
    """
    if searchers is None:
        raise TypeError("searchers: expected a list of names or one comma-separated string")
    return _bflow.map(
        problem,
        starts=_count("starts", starts),
        max_starts=_count("max_starts", max_starts),
        seed=_count("seed", seed),
        shard=shard,
        searchers=list(searchers) if not isinstance(searchers, str) else searchers,
        bflow_steps=_count("bflow_steps", bflow_steps),
        mode_starts=mode_starts,
        max_time=_number("max_time", max_time),
        per_start=per_start,
        prove=prove,
    )


def merge(
    maps: Sequence[Union[Dict[str, Any], str]],
    problem: Problem,
    *,
    prove: Union[bool, float] = False,
) -> Dict[str, Any]:
    """Merges shard maps into the map one unsharded run gives, as ``bflow merge`` does.

    Parameters
    ----------
    maps : sequence of dict (or JSON text)
        The maps of ``bflow.map(problem, starts=N, shard=(i, S), …)`` for i = 0..S−1 (in
        any order), or the files ``bflow map --shard I/S --json`` wrote, read as text.
    problem : str, os.PathLike or dict
        The problem they were made from (checked against each map's fingerprint).
    prove : bool or float
        Run the interval proof on the merged map (as :func:`map`'s ``prove``).

    Returns
    -------
    dict
        The merged map, equal to the unsharded map but for ``seconds`` (the shards' sum).

    Raises
    ------
    ShardMismatch
        When the maps are of different problems or settings, a slice is missing or given
        twice, or a map claims an equilibrium that polishing does not confirm.
    KeyboardInterrupt
        On Ctrl-C during the proof (checked every 64 boxes).
    """
    return _bflow.merge(list(maps), problem, prove=prove)


def run(
    problem: Problem,
    *,
    method: str = "bflow",
    rule: str = "fixed",
    start: Union[Sequence[float], str, None] = None,
    steps: int = 1000,
    step_size: Optional[float] = None,
    eps_switch: float = 1e-3,
    stagnation: int = 50,
    floor_steps: int = 0,
    max_time: Optional[float] = None,
    matrix_free: bool = False,
) -> Dict[str, Any]:
    """Runs one flow on ``problem`` from one start; returns the report ``bflow run --json``
    writes (``theta``, ``B``, ``I``, ``abs_I_plus_half``, ``sum_norm``, ``steps``, ``stop``,
    ``floor_reached``, ``distance`` to the nearest known equilibrium, …).

    Parameters
    ----------
    problem : str, os.PathLike or dict
        As for :func:`map` (no region needed).
    method : str
        ``bflow`` (descent on B with the exact ∇B), ``loss`` (descent on Σ L_i),
        ``bflow-central`` (∇B by central differences), ``two-phase`` (loss-flow until
        |I + ½| < ``eps_switch``, then B-flow).
    rule : str
        ``fixed`` (``step_size``), ``armijo``, ``lbfgs``, or ``newton`` (the trust-region
        Newton method on Σ g_i = 0, whatever ``method`` says).
    start : sequence of floats or "x,y,…", optional
        The start point (default: the problem's start).
    steps : int
        Step budget.
    step_size : float, optional
        The fixed step η (default 0.5 for B-flow, 0.01 for loss-flow).
    eps_switch : float
        Two-phase switches to B-flow once |I + ½| < eps_switch.
    stagnation : int
        Stop when ||s|| has not improved for this many steps (0 = never).
    floor_steps : int
        Stop once ||s|| has stayed at the floating-point floor for this many iterates
        (0 = never).
    max_time : float, optional
        Stop after this many seconds.
    matrix_free : bool
        With ``rule="newton"``: solve each Newton step matrix-free (MINRES over
        Hessian-vector products) whatever n is.

    Raises
    ------
    InputError, MissingFileError, TypeError, KeyboardInterrupt
        As :func:`map`.
    """
    return _bflow.run(
        problem,
        method=method,
        rule=rule,
        start=start,
        steps=_count("steps", steps),
        step_size=_number("step_size", step_size),
        eps_switch=_number("eps_switch", eps_switch),
        stagnation=_count("stagnation", stagnation),
        floor_steps=_count("floor_steps", floor_steps),
        max_time=_number("max_time", max_time),
        matrix_free=matrix_free,
    )
