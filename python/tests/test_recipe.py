"""The README's training recipe ("From Python"): per-task gradients on the shared parameters
handed to bflow.diagnose every step, collected into a trajectory and plotted. The numpy
version always runs; the PyTorch version only where torch is installed."""

import numpy as np
import pytest

import bflow


def task_gradients(theta, tasks):
    """∇ of L_i = ½ ||A_i θ − b_i||² / m for each task, one row per task (float32, as a
    training framework hands them over)."""
    rows = [a.T @ (a @ theta - b) / len(b) for a, b in tasks]
    return np.stack(rows).astype(np.float32)


def test_numpy_recipe_gradients_and_gram_each_step(tmp_path):
    rng = np.random.default_rng(0)
    k, n, m = 3, 50, 100
    # Three regression tasks on shared parameters whose targets disagree: gradient descent on
    # Σ L_i ends where the task gradients cancel without vanishing (B → 0, conflict).
    tasks = [(rng.standard_normal((m, n)), rng.standard_normal(m) + 3 * i) for i in range(k)]
    theta = np.zeros(n)
    diagnoses, from_gram, steps = [], [], []
    for step in range(300):
        grads = task_gradients(theta, tasks)  # K × n float32
        if step % 10 == 0:
            diagnoses.append(bflow.diagnose(grads))
            gram = grads.astype(np.float64) @ grads.T.astype(np.float64)
            from_gram.append(bflow.diagnose(gram, gram=True))
            steps.append(step)
        theta -= 0.02 * grads.sum(axis=0).astype(np.float64)
    traj = bflow.Trajectory.from_diagnoses(diagnoses, steps=steps)
    gram_traj = bflow.Trajectory.from_diagnoses(from_gram, steps=steps)
    assert len(traj) == 30 and list(traj.steps[:3]) == [0, 10, 20]
    # The descent drives the gradients toward cancelling.
    assert traj.B[-1] < 1e-3 * traj.B[0]
    assert np.all(np.diff(traj.B) < 0)
    # Where it ends the tasks pull against each other.
    assert traj.conflicts[-1] and traj.conflicts[-1][0].cosine < -0.3
    # The Gram route agrees to what a Gram matrix resolves (B to about K² ε absolute).
    assert np.allclose(gram_traj.B, traj.B, rtol=1e-12, atol=10 * k * k * 2.2e-16)
    assert gram_traj.b_resolution is not None and traj.b_resolution is None
    assert np.allclose(gram_traj.cosines, traj.cosines, atol=1e-9)
    # Columns for pandas, and a plot where matplotlib is installed.
    cols = traj.to_dict()
    assert len(cols["cos_0_1"]) == 30
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install matplotlib"):
            traj.plot(tmp_path / "balance.png")
    else:
        fig = traj.plot(tmp_path / "balance.png")
        assert (tmp_path / "balance.png").stat().st_size > 1000
        assert len(fig.axes) == 2
        assert fig.axes[0].get_yscale() == "log"
        assert len(fig.axes[1].get_lines()) == 3 + 1  # three pairs and the zero line


def test_plot_without_matplotlib_says_how_to_get_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    traj = bflow.diagnose(np.random.default_rng(1).standard_normal((4, 2, 5)))
    with pytest.raises(ImportError, match="needs matplotlib, which is not installed"):
        traj.plot()


def test_pytorch_recipe():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    shared = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh())
    heads = torch.nn.ModuleList([torch.nn.Linear(16, 1) for _ in range(3)])
    x = torch.randn(64, 8)
    ys = [torch.randn(64, 1) + i for i in range(3)]
    params = [p for p in shared.parameters()]
    opt = torch.optim.SGD(list(shared.parameters()) + list(heads.parameters()), lr=0.05)
    diagnoses = []
    for step in range(20):
        h = shared(x)
        losses = [torch.nn.functional.mse_loss(head(h), y) for head, y in zip(heads, ys)]
        grads = []
        for loss in losses:
            g = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            grads.append(torch.cat([
                (gi if gi is not None else torch.zeros_like(p)).reshape(-1)
                for gi, p in zip(g, params)
            ]))
        grads = torch.stack(grads)  # K × n
        d = bflow.diagnose(grads.detach().cpu().numpy())
        dg = bflow.diagnose((grads @ grads.T).detach().cpu().numpy(), gram=True)
        assert abs(d.B - dg.B) < 1e-3 * max(d.B, 1e-3)
        diagnoses.append(d)
        opt.zero_grad()
        sum(losses).backward()
        opt.step()
    traj = bflow.Trajectory.from_diagnoses(diagnoses)
    assert len(traj) == 20 and traj.norms.shape == (20, 3)
