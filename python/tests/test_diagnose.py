"""bflow.diagnose against numpy, its layouts, trajectories, weights, errors and warnings."""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import bflow


def reference(g):
    """B, I, norms and cosines of the rows of g, by numpy in float64."""
    g = np.asarray(g, dtype=np.float64)
    s = g.sum(axis=0)
    q = (g * g).sum(axis=1)
    b = float(s @ s) / float(q.sum())
    gram = g @ g.T
    norms = np.sqrt(q)
    cos = gram / np.outer(norms, norms)
    return b, (b - 1) / 2, norms, cos


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


@pytest.mark.parametrize("k,n", [(2, 5), (3, 1000), (7, 4096), (16, 333)])
def test_float64_agrees_with_numpy_to_1e12(k, n):
    rng = np.random.default_rng(k * 1000 + n)
    g = rng.standard_normal((k, n)) * rng.uniform(0.1, 10.0, size=(k, 1))
    d = bflow.diagnose(g)
    b, i, norms, cos = reference(g)
    assert isinstance(d, bflow.Diagnosis)
    assert rel(d.B, b) < 1e-12
    assert abs(d.I - i) < 1e-12 * max(1.0, abs(i))
    assert rel(d.abs_I_plus_half, b / 2) < 1e-12
    assert rel(d.norms, norms) < 1e-12
    assert np.max(np.abs(d.cosines - cos)) < 1e-12
    assert d.K == k and d.n == n and d.source == "gradients" and not d.degenerate
    assert rel(d.sum_norm, np.linalg.norm(g.sum(axis=0))) < 1e-12


def test_float32_input_is_read_exactly_and_summed_in_float64():
    rng = np.random.default_rng(7)
    g32 = rng.standard_normal((4, 50_000)).astype(np.float32)
    d = bflow.diagnose(g32)
    # The float32 values are exact in float64: the reference from them agrees to 1e-12 ...
    b, _, norms, cos = reference(g32.astype(np.float64))
    assert rel(d.B, b) < 1e-12
    assert rel(d.norms, norms) < 1e-12
    assert np.max(np.abs(d.cosines - cos)) < 1e-12
    # ... and numpy's own float32 arithmetic only to float32 rounding.
    s32 = g32.sum(axis=0, dtype=np.float32)
    b32 = float(np.dot(s32, s32)) / float(np.einsum("ij,ij->", g32, g32, dtype=np.float32))
    assert rel(d.B, b32) < 1e-3
    assert rel(d.B, b32) > 0.0  # they do differ: float32 accumulation rounds


def test_gram_input_equals_the_gradient_route():
    rng = np.random.default_rng(11)
    g = rng.standard_normal((5, 300))
    dg = bflow.diagnose(g)
    dm = bflow.diagnose(g @ g.T, gram=True)
    assert dm.source == "gram" and dm.n is None and dm.b_resolution is not None
    assert rel(dm.B, dg.B) < 1e-12
    assert rel(dm.norms, dg.norms) < 1e-12
    assert np.max(np.abs(dm.cosines - dg.cosines)) < 1e-12
    assert [c[:2] for c in dm.conflicts] == [c[:2] for c in dg.conflicts]


def test_every_layout_gives_the_same_diagnosis():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((3, 64))
    d = bflow.diagnose(base)
    wide = rng.standard_normal((6, 200))
    wide[::2, 10:138:2] = base
    layouts = {
        "fortran": np.asfortranarray(base),
        "strided view": wide[::2, 10:138:2],
        "reversed (copied)": base[:, ::-1][:, ::-1],
        "big-endian (copied)": base.astype(">f8"),
        "list": base.tolist(),
    }
    assert np.shares_memory(layouts["strided view"], wide)
    for name, a in layouts.items():
        other = bflow.diagnose(a)
        assert other.B == d.B, name
        assert np.array_equal(other.norms, d.norms), name
        assert np.array_equal(other.cosines, d.cosines), name


def test_trajectories_equal_their_steps():
    rng = np.random.default_rng(5)
    t, k, n = 6, 3, 40
    g = rng.standard_normal((t, k, n))
    g[4] = -g[4]  # signs do not change B
    traj = bflow.diagnose(g)
    assert isinstance(traj, bflow.Trajectory)
    assert len(traj) == t
    assert traj.B.shape == (t,) and traj.norms.shape == (t, k) and traj.cosines.shape == (t, k, k)
    assert np.array_equal(traj.steps, np.arange(t))
    for s in range(t):
        one = bflow.diagnose(g[s])
        assert traj.B[s] == one.B
        assert traj.I[s] == one.I
        assert traj.abs_I_plus_half[s] == one.abs_I_plus_half
        assert np.array_equal(traj.norms[s], one.norms)
        assert np.array_equal(traj.cosines[s], one.cosines)
        assert traj[s].conflicts == one.conflicts
    # Negative positions count from the end; a slice gives a list of diagnoses.
    assert traj[-1].B == traj.B[t - 1]
    tail = traj[-3:]
    assert [d.B for d in tail] == list(traj.B[t - 3 :])
    assert [d.B for d in traj[::2]] == list(traj.B[::2])
    assert traj[10:] == []
    with pytest.raises(IndexError):
        traj[t]
    with pytest.raises(TypeError, match="^step position: expected an integer or a slice"):
        traj["1"]
    with pytest.raises(TypeError):
        traj[True]
    assert traj[np.int64(2)].B == traj.B[2]
    # Fortran order and Gram trajectories agree.
    assert np.array_equal(bflow.diagnose(np.asfortranarray(g)).B, traj.B)
    grams = np.einsum("tkn,tln->tkl", g, g)
    tg = bflow.diagnose(grams, gram=True)
    assert rel(tg.B, traj.B) < 1e-12
    # Columns for pandas.
    cols = traj.to_dict()
    assert list(cols)[:6] == ["step", "B", "I", "abs_I_plus_half", "sum_norm", "degenerate"]
    assert {"norm_0", "norm_2", "cos_0_1", "cos_1_2"} <= set(cols)
    assert all(len(v) == t for v in cols.values())
    assert np.array_equal(cols["cos_0_2"], traj.cosines[:, 0, 2])
    # Collected step by step, as during training.
    collected = bflow.Trajectory.from_diagnoses([bflow.diagnose(g[s]) for s in range(t)],
                                                steps=range(100, 100 + t))
    assert np.array_equal(collected.B, traj.B)
    assert np.array_equal(collected.cosines, traj.cosines)
    assert list(collected.steps) == list(range(100, 100 + t))


def test_weights_equal_scaling_the_rows():
    rng = np.random.default_rng(9)
    g = rng.standard_normal((4, 100))
    w = np.array([0.5, 2.0, 1.0, 3.0])
    d = bflow.diagnose(g, weights=w)
    scaled = bflow.diagnose(g * w[:, None])
    assert rel(d.B, scaled.B) < 1e-12
    assert rel(d.norms, scaled.norms) < 1e-12
    gw = bflow.diagnose(g @ g.T, gram=True, weights=list(w))
    assert rel(gw.B, d.B) < 1e-12
    with pytest.raises(bflow.InputError, match="weight"):
        bflow.diagnose(g, weights=[1.0, 2.0])


def test_degenerate_state_is_nan_not_zero():
    d = bflow.diagnose(np.zeros((3, 10)))
    assert d.degenerate
    assert np.isnan(d.B) and np.isnan(d.I) and np.isnan(d.abs_I_plus_half)
    assert np.array_equal(d.norms, np.zeros(3))


def test_an_equilibrium_has_b_zero_and_lists_the_conflict():
    g = np.array([[1.0, 2.0, 0.0], [-1.0, -2.0, 0.0]])
    d = bflow.diagnose(g)
    assert d.B == 0.0 and d.I == -0.5
    assert len(d.conflicts) == 1 and d.conflicts[0][:2] == (0, 1)
    assert d.conflicts[0].cosine == pytest.approx(-1.0, abs=4e-16)


def test_many_tasks_give_pairs_and_the_matrix_on_request():
    rng = np.random.default_rng(1)
    g = rng.standard_normal((20, 50))
    g[7] = -g[3]
    d = bflow.diagnose(g)
    assert d.cosines is None
    assert d.conflicts[0][:2] == (3, 7) and abs(d.conflicts[0].cosine + 1.0) < 1e-12
    full = bflow.diagnose(g, full_cosines=True)
    assert full.cosines.shape == (20, 20)
    assert abs(full.cosines[3, 7] + 1.0) < 1e-12
    assert len(bflow.diagnose(g, conflicts=2).conflicts) == 2


def test_to_dict_and_repr():
    g = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, -1.0, 0.0]])
    d = bflow.diagnose(g)
    out = d.to_dict()
    json.dumps(out)
    assert out["B"] == d.B and out["norms"] == d.norms.tolist()
    assert out["conflicts"][0] == {"i": 0, "j": 2, "cosine": pytest.approx(-2 ** -0.5)}
    text = repr(d)
    lines = text.splitlines()
    assert lines[0].strip().startswith("B: ")
    assert any(line.strip().startswith("abs_I_plus_half: ") for line in lines)
    # Keys right-aligned, as scipy's OptimizeResult prints them.
    colons = {line.index(": ") for line in lines if ": " in line and not line.startswith(" " * 17)}
    assert len(colons) == 1


def test_bad_dtypes_and_shapes_are_named():
    with pytest.raises(bflow.InputError, match="dtype int64"):
        bflow.diagnose(np.ones((2, 3), dtype=np.int64))
    with pytest.raises(bflow.InputError, match="dtype float16"):
        bflow.diagnose(np.ones((2, 3), dtype=np.float16))
    with pytest.raises(ValueError, match="1 dimensions"):
        bflow.diagnose(np.ones(3))
    with pytest.raises(bflow.InputError, match="at least 2"):
        bflow.diagnose(np.ones((1, 3)))
    bad = np.ones((4, 2, 3))
    bad[2, 1, 0] = np.nan
    with pytest.raises(bflow.InputError, match=r"^step 2: gradient 1 component 0 is not finite"):
        bflow.diagnose(bad)
    with pytest.raises(bflow.InputError, match="not a Gram matrix"):
        bflow.diagnose(np.array([[1.0, 2.0], [2.0, 1.0]]), gram=True)
    with pytest.raises(TypeError):
        bflow.diagnose(np.ones((2, 3)), transpose=True)


def test_hostile_counts_arrays_and_weights_are_refused_or_handled():
    g = np.array([[1.0, 0.0, 0.0], [-1.0, 0.2, 0.0], [-0.5, -1.0, 0.0]])
    # Any number of conflicts asked for lists the pairs that conflict, and no more.
    for m in (3, 2**32, 2**62, 2**70):
        d = bflow.diagnose(g, conflicts=m)
        assert [(c.i, c.j) for c in d.conflicts] == [(0, 1), (0, 2)]
    # Misaligned C-contiguous data is copied, not refused.
    raw = b"\x00" + np.arange(7.0).tobytes()
    b = np.frombuffer(raw, dtype=np.float64, offset=1, count=6).reshape(2, 3)
    assert not b.flags.aligned
    assert bflow.diagnose(b).B == bflow.diagnose(b.copy()).B
    with pytest.raises(bflow.InputError, match="^weights: expected K numbers"):
        bflow.diagnose(g, weights="ab")
    with pytest.raises(bflow.InputError, match="^array: not an array of numbers"):
        bflow.diagnose([[1.0, 2.0, 3.0], [-1.0, -2.0]])
    with pytest.raises(TypeError, match="^array: "):
        bflow.diagnose(None)
    # Flags are booleans: the string "False" is not taken for True.
    with pytest.raises(TypeError, match="^gram: expected True or False, got str"):
        bflow.diagnose(g, gram="False")
    with pytest.raises(TypeError, match="^full_cosines: expected True or False"):
        bflow.diagnose(g, full_cosines="no")
    assert bflow.diagnose(g, gram=np.bool_(False)).B == bflow.diagnose(g).B


def test_transposed_input_warns():
    g = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.warns(bflow.BflowWarning, match="transposed"):
        bflow.diagnose(g)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bflow.diagnose(g.T)


def test_no_copy_of_a_large_float32_array():
    """Peak memory in a fresh process: diagnosing a 3 × 4·10⁶ float32 array (48 MB) may not
    add a copy of it (48 MB as float32, 96 MB as float64); the library's own buffers are
    about 0.5 MB."""
    code = textwrap.dedent(
        """
        import resource, numpy as np, bflow
        a = np.random.default_rng(0).standard_normal((3, 4_000_000)).astype(np.float32)
        bflow.diagnose(a[:, :1000])  # imports and first-call allocations
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        d = bflow.diagnose(a)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        f = np.asfortranarray(a)
        before_f = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        bflow.diagnose(f)
        after_f = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) * 1024, (after_f - before_f) * 1024, d.B)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.abspath(__file__)))
    grew_c, grew_f, b = out.stdout.split()
    assert int(grew_c) < 8 << 20, out.stdout
    assert int(grew_f) < 8 << 20, out.stdout
    assert 0.0 < float(b) < 3.0
