"""Equilibrium maps on a Dask cluster: one task per shard, merged on the client.

Needs dask (``pip install bflow[dask]``; ``dask[distributed]`` for a cluster).

>>> from dask.distributed import Client, LocalCluster          # doctest: +SKIP
>>> client = Client(LocalCluster(n_workers=4))                 # doctest: +SKIP
>>> m = bflow.dask.map("himmelblau-split", shards=4, starts=512)  # doctest: +SKIP
"""

from __future__ import annotations

import numbers
import os
from typing import Any, Dict, Optional

import bflow

__all__ = ["map"]

_REFUSED = {
    "shard": "bflow.dask.map makes the shards itself (shards=N)",
    "per_start": "per-start records are not kept across shards (merge drops them); use bflow.map",
    "max_time": "a shard stopped by a time limit covers only part of its slice and cannot be "
    "merged; bound the work with starts=",
}


def _shard(problem: Any, index: int, count: int, options: Dict[str, Any]) -> Dict[str, Any]:
    """One shard's map (runs on a worker)."""
    return bflow.map(problem, shard=(index, count), **options)


def _portable(problem: Any) -> Any:
    """The problem as workers reach it: a file that exists here by its absolute path (the
    workers must see the same file system, as a LocalCluster does); built-in names and dicts
    as they are."""
    if isinstance(problem, (str, os.PathLike)):
        path = os.fspath(problem)
        if isinstance(path, str) and os.path.isfile(path):
            return os.path.abspath(path)
    return problem


def map(  # noqa: A001 (bflow.map's name)
    problem: Any,
    shards: int,
    client: Any = None,
    **options: Any,
) -> Dict[str, Any]:
    """``bflow.map(problem, **options)`` as ``shards`` Dask tasks, one per shard
    (``shard=(i, shards)``), merged on the client with :func:`bflow.merge`.

    The result equals ``bflow.map(problem, **options)`` run on one machine, but for
    ``seconds`` (here the sum over the shards): the starts, every search and the merge are
    deterministic, and the merge re-polishes every equilibrium a shard claims.

    **A fixed number of starts is required** (``starts=N``). An adaptive map decides after
    each round, from all starts so far, whether to run another; its shards cannot be run
    independently, so this function raises ValueError without ``starts`` rather than give a
    map that differs from ``bflow.map``'s. An adaptive map that stopped after N starts ran
    the starts of the fixed map of N starts and, on every problem measured, found the same
    equilibria (its searches end early in the certified boxes of equilibria that earlier
    starts found, so a few hit counts can differ): run ``bflow.map`` once to learn N
    (``m["starts"]``), then map at scale with ``starts=N`` or more.

    Parameters
    ----------
    problem : str, os.PathLike or dict
        As for :func:`bflow.map`. A file is sent to the workers by its absolute path, so
        they must see the same file system; built-in names and dicts go anywhere.
    shards : int
        The number of tasks (≥ 1).
    client : distributed.Client, optional
        Where to run. Default: the current client (``distributed.get_client()``) if there
        is one, else dask's local scheduler (threads: bflow releases the GIL).
    **options
        :func:`bflow.map`'s options; ``starts`` is required, ``shard``, ``per_start`` and
        ``max_time`` are refused (see above); ``prove`` runs once, on the merged map.

    Raises
    ------
    ValueError
        Without ``starts``, with a refused option, or for ``shards < 1``.
    TypeError
        For an option :func:`bflow.map` does not have.
    ImportError
        When dask is not installed.
    """
    if isinstance(shards, bool) or not isinstance(shards, numbers.Integral) or shards < 1:
        raise ValueError(f"shards: must be an integer ≥ 1, got {shards!r}")
    shards = int(shards)
    for name, why in _REFUSED.items():
        # Only None and False mean "not given": max_time=0 is a time limit, and refused.
        value = options.get(name)
        if value is not None and value is not False:
            raise ValueError(f"{name}: not accepted by bflow.dask.map: {why}")
        options.pop(name, None)
    if options.get("starts") is None:
        raise ValueError(
            "starts: bflow.dask.map needs a fixed number of starts (starts=N): an adaptive map "
            "decides after each round, from all starts together, whether to go on, so its "
            "shards cannot run apart; run bflow.map once to learn N (its 'starts')"
        )
    starts = options["starts"]
    if isinstance(starts, numbers.Integral) and not isinstance(starts, bool) and shards > starts:
        raise ValueError(
            f"shards: {shards} shards for {starts} starts: at most one shard per start"
        )
    prove = options.pop("prove", False)
    # Unknown options fail here, before any task is sent.
    import inspect

    inspect.signature(bflow.map).bind(problem, **options)
    try:
        import dask
    except ImportError as e:
        raise ImportError(
            "bflow.dask.map needs dask: pip install 'dask[distributed]' (or bflow[dask])"
        ) from e
    sent = _portable(problem)
    if client is None:
        try:
            from distributed import get_client

            client = get_client()
        except (ImportError, ValueError):
            client = None
    if client is not None:
        futures = [
            client.submit(_shard, sent, i, shards, options, pure=False) for i in range(shards)
        ]
        parts = client.gather(futures)
    else:
        tasks = [dask.delayed(_shard)(sent, i, shards, options) for i in range(shards)]
        parts = list(dask.compute(*tasks, scheduler="threads"))
    return bflow.merge(parts, problem, prove=prove)
