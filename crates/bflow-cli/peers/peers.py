#!/usr/bin/env python3
"""scipy peers for `bflow compare --peers`.

Usage: python3 peers.py IN.json OUT.json

IN is written by bflow (`experiment::compare::peers_input`): a list of problems, each with
`name`, `k`, `n`, `spec` (the formulas: class `quadratic` {matrices, targets}, `targets`
{targets, weight, amplitude, pi} or `rosenbrock`), `start` and `equilibrium` (or null).

For each problem three peers run from the same start:
  * scipy.optimize.root(method="hybr") on s(θ) = Σ g_i = 0 with the exact Jacobian J = Σ H_i;
  * scipy.optimize.minimize(method="BFGS") on Σ L_i with its gradient s;
  * scipy.optimize.minimize(method="trust-exact") on Σ L_i with gradient and Hessian.

OUT is a list of {problem, method, sum_norm, distance, floor_reached, nfev, njev, nhev,
grad_equivalents, seconds}. Work is counted as bflow counts it: one evaluation of s or of
the K gradients = K gradient-equivalents, one dense Jacobian/Hessian = n·K HVPs = 2nK;
evaluations of Σ L alone are free (bflow does not count losses either).

Exit code 3 (and one line on stderr) when scipy is missing.
"""

import json
import math
import sys
import time

try:
    import numpy as np
    from scipy import optimize
except ImportError:
    print("peers.py: scipy is not installed (python3 -m pip install scipy)", file=sys.stderr)
    sys.exit(3)

EPS = float(np.finfo(float).eps)
FLOOR_FACTOR = 4.0


def make(problem):
    spec = problem["spec"]
    cls = spec["class"]
    n = problem["n"]
    if cls == "quadratic":
        mats = [np.array(m, dtype=float).reshape(n, n) for m in spec["matrices"]]
        tgts = [np.array(t, dtype=float) for t in spec["targets"]]

        def grads(x):
            return [a @ (x - t) for a, t in zip(mats, tgts)]

        def loss(x):
            return sum(0.5 * (x - t) @ a @ (x - t) for a, t in zip(mats, tgts))

        hsum = sum(mats)

        def jac(x):
            return hsum

    elif cls == "targets":
        tgts = [np.array(t, dtype=float) for t in spec["targets"]]
        w, amp, pi = spec["weight"], spec["amplitude"], spec["pi"]
        tp = 2.0 * pi

        def grads(x):
            return [2 * w * (x - t) + tp * amp * np.sin(tp * (x - t)) for t in tgts]

        def loss(x):
            return sum(
                float(np.sum(w * (x - t) ** 2 + amp * (1 - np.cos(tp * (x - t))))) for t in tgts
            )

        def jac(x):
            d = sum(2 * w + tp * tp * amp * np.cos(tp * (x - t)) for t in tgts)
            return np.diag(d)

    elif cls == "rosenbrock":

        def grads(x):
            r = x[1] - x[0] ** 2
            return [np.array([-2 * (1 - x[0]), 0.0]), np.array([-400 * x[0] * r, 200 * r])]

        def loss(x):
            return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

        def jac(x):
            r = x[1] - x[0] ** 2
            return np.array([[2 - 400 * r + 800 * x[0] ** 2, -400 * x[0]], [-400 * x[0], 200.0]])

    else:
        raise ValueError(f"unknown class {cls}")

    def s(x):
        return sum(grads(x))

    return loss, s, jac, grads


def measure(problem, method):
    loss, s, jac, grads = make(problem)
    k, n = problem["k"], problem["n"]
    x0 = np.array(problem["start"], dtype=float)
    counts = {"f": 0, "g": 0, "h": 0}

    def f_(x):
        counts["f"] += 1
        return loss(x)

    def s_(x):
        counts["g"] += 1
        return s(x)

    def h_(x):
        counts["h"] += 1
        return jac(x)

    t0 = time.perf_counter()
    with np.errstate(all="ignore"):
        try:
            if method == "scipy root hybr":
                res = optimize.root(s_, x0, jac=h_, method="hybr", options={"xtol": 1e-15})
            elif method == "scipy BFGS":
                res = optimize.minimize(f_, x0, jac=s_, method="BFGS", options={"gtol": 1e-14, "maxiter": 20000})
            else:
                res = optimize.minimize(f_, x0, jac=s_, hess=h_, method="trust-exact", options={"gtol": 1e-14, "maxiter": 2000})
            x = np.asarray(res.x, dtype=float)
        except Exception:  # a peer that fails is recorded, not fatal
            x = x0 * float("nan")
    seconds = time.perf_counter() - t0
    with np.errstate(all="ignore"):
        gs = grads(x)
        sn = float(np.linalg.norm(sum(gs)))
        floor = EPS * sum(float(np.linalg.norm(g)) for g in gs)
    eq = problem.get("equilibrium")
    dist = float(np.linalg.norm(x - np.array(eq))) if eq is not None else None
    fin = lambda v: v if v is not None and math.isfinite(v) else None
    return {
        "problem": problem["name"],
        "method": method,
        "sum_norm": fin(sn),
        "distance": fin(dist),
        "floor_reached": bool(math.isfinite(sn) and sn <= FLOOR_FACTOR * floor),
        "nfev": counts["f"] if method != "scipy root hybr" else counts["g"],
        "njev": counts["g"] if method != "scipy root hybr" else counts["h"],
        "nhev": counts["h"] if method != "scipy root hybr" else 0,
        "grad_equivalents": k * counts["g"] + 2 * n * k * counts["h"],
        "seconds": seconds,
    }


def main():
    if len(sys.argv) != 3:
        print("usage: peers.py IN.json OUT.json", file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1]) as fh:
        problems = json.load(fh)
    out = []
    for p in problems:
        for m in ("scipy root hybr", "scipy BFGS", "scipy trust-exact"):
            out.append(measure(p, m))
    with open(sys.argv[2], "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main()
