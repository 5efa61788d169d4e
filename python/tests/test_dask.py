"""bflow.dask.map: shards as Dask tasks, merged into exactly the single-process map."""

import json

import pytest

import bflow
import bflow.dask


def without_seconds(m):
    m = json.loads(json.dumps(m))
    m.pop("seconds")
    return m


def test_four_shards_on_a_local_cluster_equal_the_single_process_map():
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as e:  # pragma: no cover - depends on the environment
        pytest.skip(f"dask.distributed cannot be imported ({e}): pip install 'dask[distributed]'")
    options = dict(starts=256, seed=3)
    single = bflow.map("himmelblau-split", **options)
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        on_cluster = bflow.dask.map("himmelblau-split", shards=4, client=client, **options)
        # Without client=, the current client is used.
        by_default = bflow.dask.map("e4", shards=3, starts=64)
    assert without_seconds(on_cluster) == without_seconds(single)
    assert len(on_cluster["equilibria"]) == 9
    assert on_cluster["problem_source"] == "himmelblau-split"
    assert without_seconds(by_default) == without_seconds(bflow.map("e4", starts=64))


def test_local_scheduler_without_a_cluster():
    pytest.importorskip("dask")
    problem = {
        "vars": ["x"],
        "objectives": ["(x^2 - 1)^2", "0.1 * x^2"],
        "region": {"x": [-2.0, 2.0]},
    }
    single = bflow.map(problem, starts=40)
    sharded = bflow.dask.map(problem, shards=3, starts=40)
    assert without_seconds(sharded) == without_seconds(single)
    assert sharded["problem_source"] is None


def test_adaptive_and_unmergeable_options_are_refused():
    with pytest.raises(ValueError, match="^starts: bflow.dask.map needs a fixed number of starts"):
        bflow.dask.map("e4", shards=2)
    with pytest.raises(ValueError, match="^max_time: "):
        bflow.dask.map("e4", shards=2, starts=8, max_time=1.0)
    with pytest.raises(ValueError, match="^shards: "):
        bflow.dask.map("e4", shards=0, starts=8)
    # 0 is a time limit too (it was taken for "not given"), and more shards than starts
    # are refused before any task runs, as merge would refuse them after.
    with pytest.raises(ValueError, match="^max_time: "):
        bflow.dask.map("e4", shards=2, starts=8, max_time=0)
    with pytest.raises(ValueError, match="^shards: 100 shards for 8 starts"):
        bflow.dask.map("e4", shards=100, starts=8)
    with pytest.raises(TypeError, match="bogus"):
        bflow.dask.map("e4", shards=2, starts=8, bogus=1)
