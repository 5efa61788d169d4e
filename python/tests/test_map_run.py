"""bflow.map, bflow.run and bflow.merge: the command line's JSON, problems as names, files
and dicts, and errors with the command line's messages."""

import _thread
import itertools
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time

import pytest

import bflow
from conftest import EXAMPLES, REPO

HIMMELBLAU = os.path.join(EXAMPLES, "himmelblau-split.toml")

# The map JSON's top-level keys as crates/bflow/src/map/json.rs writes them, plus the
# `problem_source` the command line adds.
MAP_KEYS = {
    "problem", "fingerprint", "starts", "starts_mapped", "seed", "shard", "scale",
    "equilibria", "connections", "morse_counts", "spurious", "outcomes", "escaped", "diverged",
    "unresolved", "completeness", "params", "seconds", "problem_source",
}

HIMMELBLAU_DICT = {
    "name": "himmelblau-split",
    "vars": ["x", "y"],
    "params": {"a": 11.0},
    "objectives": [{"name": "L1", "expr": "(x^2 + y - a)^2"}, "(x + y^2 - 7)^2"],
    "start": {"x": -3.0, "y": -3.0},
    "region": {"x": [-6.0, 6.0], "y": [-6.0, 6.0]},
}


def cli():
    """The `bflow` executable: $BFLOW_CLI, else the workspace's build, else None."""
    candidates = [os.environ.get("BFLOW_CLI"),
                  os.path.join(REPO, "target", "release", "bflow"),
                  os.path.join(REPO, "target", "debug", "bflow"),
                  shutil.which("bflow")]
    return next((c for c in candidates if c and os.path.isfile(c)), None)


def without_seconds(m):
    m = json.loads(json.dumps(m))
    m.pop("seconds")
    m.pop("problem_source", None)
    return m


@pytest.fixture(scope="module")
def himmelblau_map():
    return bflow.map("himmelblau-split")


def test_map_finds_the_nine_himmelblau_equilibria(himmelblau_map):
    m = himmelblau_map
    assert set(m) == MAP_KEYS
    assert len(m["equilibria"]) == 9
    kinds = sorted(e["kind"] for e in m["equilibria"])
    assert kinds == ["maximum"] + ["minimum"] * 4 + ["saddle"] * 4
    assert all(e["certified_radius"] is not None for e in m["equilibria"])
    assert m["problem_source"] == "himmelblau-split"
    assert m["completeness"]["stopped"] == "complete"
    # (3, 2) is one of them.
    assert any(abs(e["point"][0] - 3) < 1e-9 and abs(e["point"][1] - 2) < 1e-9
               for e in m["equilibria"])


def test_map_json_keys_match_the_command_line(tmp_path, himmelblau_map):
    exe = cli()
    if exe is None:
        pytest.skip("the bflow executable is not built (set BFLOW_CLI); keys checked "
                    "against the documented list in the test above")
    out = tmp_path / "map.json"
    subprocess.run([exe, "map", "himmelblau-split", "--starts", "64", "--json", str(out)],
                   check=True, capture_output=True)
    from_cli = json.loads(out.read_text())
    from_py = bflow.map("himmelblau-split", starts=64)
    assert set(from_py) == set(from_cli)
    assert without_seconds(from_py) == without_seconds(from_cli)
    assert from_py["problem_source"] == from_cli["problem_source"]
    e_py, e_cli = from_py["equilibria"][0], from_cli["equilibria"][0]
    assert set(e_py) == set(e_cli)
    assert set(from_py["completeness"]) == set(from_cli["completeness"])
    # And the command line merges shards made in Python.
    parts = []
    for i in range(2):
        p = tmp_path / f"shard{i}.json"
        p.write_text(json.dumps(bflow.map("himmelblau-split", starts=64, shard=f"{i}/2")))
        parts.append(str(p))
    merged = tmp_path / "merged.json"
    subprocess.run([exe, "merge", *parts, "--json", str(merged)], check=True,
                   capture_output=True)
    assert without_seconds(json.loads(merged.read_text())) == without_seconds(from_cli)


def test_run_on_e3_reaches_the_equilibrium():
    r = bflow.run("e3")
    assert r["floor_reached"] is True
    assert r["distance"] < 1e-14
    assert r["abs_I_plus_half"] < 1e-28
    theta = r["theta"]
    assert theta == pytest.approx([2 / 3, 1.0, 4 / 3, 1.0], abs=1e-14)
    newton = bflow.run("e3", rule="newton", start=[5, -5, 5, -5])
    assert newton["distance"] < 1e-12
    assert newton["steps"] < r["steps"]
    exe = cli()
    if exe is not None:
        out = subprocess.run([exe, "run", "e3", "--json", "/dev/stdout"], check=True,
                             capture_output=True, text=True).stdout
        from_cli = json.loads(out[out.index("{"):])
        assert set(from_cli) == set(r)
        assert from_cli["theta"] == r["theta"] and from_cli["steps"] == r["steps"]


def test_merge_of_two_shards_equals_the_unsharded_map():
    whole = bflow.map("himmelblau-split", starts=96)
    parts = [bflow.map("himmelblau-split", starts=96, shard=(i, 2)) for i in (1, 0)]
    assert [p["shard"] for p in parts] == ["1/2", "0/2"]
    merged = bflow.merge(parts, "himmelblau-split")
    assert without_seconds(merged) == without_seconds(whole)
    assert merged["problem_source"] == "himmelblau-split"
    # JSON text works too.
    texts = [json.dumps(p) for p in parts]
    assert without_seconds(bflow.merge(texts, "himmelblau-split")) == without_seconds(whole)
    with pytest.raises(bflow.ShardMismatch, match="slice 1/2 is in no shard"):
        bflow.merge(parts[1:], "himmelblau-split")
    with pytest.raises(bflow.ShardMismatch, match="^cannot merge shards: shard 1 is of problem"):
        bflow.merge(parts, "e4")
    assert issubclass(bflow.ShardMismatch, ValueError)


def test_problem_as_file_path_and_dict_give_the_same_map():
    by_name = without_seconds(bflow.map("himmelblau-split", starts=32))
    by_path = bflow.map(pathlib.Path(HIMMELBLAU), starts=32)
    assert by_path["problem_source"] == HIMMELBLAU
    by_dict = bflow.map(HIMMELBLAU_DICT, starts=32)
    assert by_dict["problem_source"] is None
    assert without_seconds(by_path)["equilibria"] == without_seconds(by_dict)["equilibria"]
    assert len(by_name["equilibria"]) == len(by_dict["equilibria"])
    text = bflow.problem_toml(HIMMELBLAU_DICT)
    assert "[[objective]]" in text and 'expr = "(x + y^2 - 7)^2"' in text


def test_errors_carry_the_command_line_messages(tmp_path):
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(FileNotFoundError, match="nope.toml") as e:
        bflow.map(missing)
    assert str(e.value) == f"cannot read {missing}: no such file"
    assert e.value.filename == missing
    assert isinstance(e.value, bflow.MissingFileError)
    with pytest.raises(bflow.FileError, match="not a regular file"):
        bflow.run(tmp_path)
    with pytest.raises(bflow.InputError, match="^unknown problem `nosuch`: not a built-in"):
        bflow.map("nosuch")
    with pytest.raises(TypeError, match="bogus"):
        bflow.map("e4", bogus=3)
    with pytest.raises(TypeError, match="step"):
        bflow.run("e3", step=3)
    with pytest.raises(bflow.InputError, match="^starts: must be ≥ 1$"):
        bflow.map("e4", starts=0)
    with pytest.raises(bflow.InputError, match="^shard: needs a fixed number of starts"):
        bflow.map("e4", shard="0/2")
    with pytest.raises(bflow.InputError, match="^shard: `3/2` is not I/N"):
        bflow.map("e4", starts=8, shard="3/2")
    with pytest.raises(bflow.InputError, match="^shard: 100/200: more shards than the 64 starts"):
        bflow.map("e4", starts=64, shard=(100, 200))
    for name in ("starts", "seed", "max_starts", "bflow_steps"):
        for bad in (-1, 2**64):
            with pytest.raises(bflow.InputError, match=f"^{name}: must be an integer"):
                bflow.map("e4", **{name: bad})
        with pytest.raises(TypeError, match=f"^{name}: expected an integer"):
            bflow.map("e4", **{name: "10"})
    # A bool is no number of seconds or step size: True would have been taken for 1.
    with pytest.raises(TypeError, match="^max_time: expected a number, got bool"):
        bflow.map("e4", max_time=True)
    for name in ("max_time", "step_size", "eps_switch"):
        with pytest.raises(TypeError, match=f"^{name}: expected a number, got bool"):
            bflow.run("e3", **{name: True})
        with pytest.raises(TypeError, match=f"^{name}: expected a number, got str"):
            bflow.run("e3", **{name: "1"})
    with pytest.raises(bflow.InputError, match="^per_start: keeps every start in memory"):
        bflow.map("e4", starts=10**12, per_start=True)
    with pytest.raises(bflow.InputError, match="^steps: must be an integer"):
        bflow.run("e3", steps=-1)
    # An endless start is refused once it is longer than the problem's dimension.
    with pytest.raises(bflow.InputError, match="^start: more than 4 values given, the problem has 4"):
        bflow.run("e3", start=itertools.count())
    # A problem dict that contains itself (or nests without end) is refused, not followed.
    selfish = {"vars": ["x"], "region": {"x": [-1.0, 1.0]}}
    selfish["params"] = selfish
    with pytest.raises(bflow.InputError, match="^problem-dict: `params` is nested more than"):
        bflow.map(selfish)
    looped = []
    looped.append(looped)
    with pytest.raises(bflow.InputError, match="^problem-dict: `objectives` is nested more"):
        bflow.problem_toml({"vars": ["x"], "objectives": looped})
    with pytest.raises(bflow.InputError, match=r"given twice \(as `objectives` and as `objective`\)"):
        bflow.problem_toml({"vars": ["x"], "objectives": ["x"], "objective": [{"expr": "x"}]})
    with pytest.raises(bflow.InputError, match="^searchers: `newtn` is not a searcher"):
        bflow.map("e4", starts=8, searchers=["newtn"])
    with pytest.raises(bflow.InputError, match="has no region"):
        bflow.map({"vars": ["t"], "objectives": ["(t-3)^2", "(t+2)^2"]})
    with pytest.raises(bflow.InputError, match=r"^problem-dict:\d+:\d+: objective 1: "):
        bflow.run({"vars": ["t"], "objectives": ["t +* 1", "t"]})
    with pytest.raises(bflow.InputError, match="unknown field `objectve`"):
        bflow.run({"vars": ["t"], "objectve": ["t"]})
    with pytest.raises(bflow.InputError, match="^eps_switch: must be finite and > 0"):
        bflow.run("e3", method="two-phase", eps_switch=-1.0)
    with pytest.raises(bflow.InputError, match="^step_size: "):
        bflow.run("e3", step_size=-0.5)
    with pytest.raises(bflow.InputError, match="^start: 2 values given, the problem has 4"):
        bflow.run("e3", start=[1, 2])
    with pytest.raises(bflow.InputError, match="^method: `newton` is not a flow"):
        bflow.run("e3", method="newton")
    with pytest.raises(bflow.InputError, match="^max_time: must be a number of seconds"):
        bflow.run("e3", max_time=-1.0)
    # Every exception is a BflowError and the builtin that fits.
    for cls, base in [(bflow.InputError, ValueError), (bflow.FileError, OSError),
                      (bflow.MissingFileError, FileNotFoundError)]:
        assert issubclass(cls, bflow.BflowError) and issubclass(cls, base)


def test_problems_lists_the_catalog():
    names = [name for name, _ in bflow.problems()]
    assert {"e1", "e3", "e4", "himmelblau-split"} <= set(names)


def test_long_calls_release_the_gil():
    """A map running in a thread for up to 3 s must let this thread run meanwhile: were the
    GIL held for the whole call, this thread could only wake after the map returned."""
    import threading
    import time

    done = {}

    def work():
        done["map"] = bflow.map("e4", starts=1 << 20, max_time=3.0)

    worker = threading.Thread(target=work)
    worker.start()
    time.sleep(0.3)
    alive_while_mapping = worker.is_alive()
    worker.join()
    assert alive_while_mapping
    assert done["map"]["completeness"]["stopped"] == "time-limit"


def test_one_objective_refuses_bflow_naming_the_method_and_runs_newton():
    one = {"vars": ["x"], "objectives": ["(x - 1)^2"], "start": {"x": 3.0}}
    with pytest.raises(bflow.InputError, match=r"^method: with one objective"):
        bflow.run(one)
    report = bflow.run(one, rule="newton")
    assert abs(report["theta"][0] - 1.0) < 1e-12


def test_mode_starts_are_on_by_default_and_can_be_turned_off():
    # The 3-D example wells: the mode starts run from its equilibria and find nothing
    # the starts had not; turned off, none run and the equilibria are the same.
    wells = os.path.join(EXAMPLES, "gaussian-wells-3d.toml")
    on = bflow.map(wells)
    off = bflow.map(wells, mode_starts=False)
    assert on["params"]["mode_starts"] is True and off["params"]["mode_starts"] is False
    assert on["completeness"]["mode_searches"] > 0
    assert on["completeness"]["mode_found"] == 0
    assert off["completeness"]["mode_searches"] == 0
    assert [e["point"] for e in on["equilibria"]] == [e["point"] for e in off["equilibria"]]
    assert all(e["found_by_modes"] is False for e in on["equilibria"])


@pytest.mark.parametrize("kind", ["fourier", "quartic", "morse", "tanh"])
def test_the_3d_surface_generator_writes_problems_that_map(kind, tmp_path):
    # examples/problems/surfaces_3d.py made the 3-D check sets of docs/MAPPING.md: the same
    # kind and seed give the same file, and bflow maps it.
    script = os.path.join(EXAMPLES, "surfaces_3d.py")
    run = lambda: subprocess.run(
        [sys.executable, script, kind, "2"], check=True, capture_output=True, text=True
    ).stdout
    text = run()
    assert text == run()
    assert f'name = "{kind}3-2"' in text
    path = tmp_path / f"{kind}.toml"
    path.write_text(text)
    m = bflow.map(str(path), starts=64)
    assert m["equilibria"] and all(len(e["point"]) == 3 for e in m["equilibria"])
    assert m["completeness"]["stopped"] == "fixed"


def test_ctrl_c_stops_a_long_proof():
    # Σ (x_j² − 1)² in 8-D has 3⁸ = 6561 equilibria: proving a 16-start map complete would
    # run for its whole minute. Ctrl-C (simulated half a second in) ends it within a poll.
    names = [f"x{j}" for j in range(8)]
    problem = {
        "vars": names,
        "objective": [{"expr": f"({x}^2 - 1)^2"} for x in names],
        "region": {x: [-1.6, 1.6] for x in names},
    }
    timer = threading.Timer(0.5, _thread.interrupt_main)
    began = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            bflow.map(problem, starts=16, prove=60)
    finally:
        timer.cancel()
    assert time.monotonic() - began < 10
