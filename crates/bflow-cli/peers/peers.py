#!/usr/bin/env python3
"""scipy peers for `bflow compare --peers` and `bflow bench map --peers`.

Usage: python3 peers.py IN.json OUT.json      (compare)
       python3 peers.py map < IN.jsonl > OUT.jsonl   (bench map; see `map_main`)
       python3 peers.py map --check   (exit 0 when scipy and sympy import)

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

Exit code 3 (and one line on stderr) when scipy is missing; 4 when `map` needs sympy and it
is missing.
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


# ---------------------------------------------------------------------------------------
# `peers.py map`: scipy's multi-start on a problem file's equilibria.
#
# IN (stdin, JSON Lines, written by bflow: `experiment::map_bench::peers_input` and
# `peer_run`): first the problem,
#   {"vars": [names], "objectives": [tree, ...], "region": [[lo, hi], ...],
#    "tolerance": t, "max_starts": N, "max_seconds": T}
# then one run per line, each sent once bflow's map of that seed is done,
#   {"seed": s, "equilibria": [[x...], ...]}
# A tree is the problem file's parsed expression (params folded into constants), as JSON:
#   ["const", c] ["var", j] ["neg", a] ["add"|"sub"|"mul"|"div", a, b] ["powi", a, n]
#   ["powf", a, p] ["call", name, a] with name in sin cos tan exp ln sqrt abs sign tanh sinh
#   cosh atan.
# sympy turns Σ L_i into s = ∇ Σ L_i and its exact Jacobian (the Hessian of Σ L_i), lambdified
# to plain-float code (the math module) with common subexpressions shared. Constants that are
# not small dyadic rationals enter as named floats, so the functions use exactly the file's
# binary values.
#
# Each run: scipy.optimize.root(method="hybr", jac=exact) from scrambled Halton starts
# (scipy.stats.qmc, seeded by the run's seed) in the region. A start counts as converged when
# hybr reports success and ‖s‖ ≤ 1e-8 (1 + ‖H‖_F · scale); a converged root inside the region
# (widened by the tolerance) that is farther than the tolerance (max norm) from every root kept
# so far is a new equilibrium. The run stops the moment it holds at least as many distinct
# equilibria as bflow's map of the same seed found AND each of bflow's equilibria is within the
# tolerance of one of them (scipy alone cannot know when it is done: bflow tells it), else at
# max_starts starts or max_seconds seconds. Setting up (sympy) is not timed; drawing the
# starts is.
#
# OUT (stdout, JSON Lines, each line flushed): {"ready": true} once the functions are built,
# then per run, as soon as it is done,
#   {"seed", "starts", "seconds", "found", "matched", "complete", "stop"},
# stop one of "complete", "max-starts", "time-limit". So bflow times its map of a seed and
# scipy's run of it back to back, on the machine as it is at that moment, seed after seed.
# ---------------------------------------------------------------------------------------


def map_functions(spec):
    """(s, jac) of Σ L_i as numpy-returning functions of a point, built with sympy."""
    try:
        import sympy
    except ImportError:
        print("peers.py: sympy is not installed (python3 -m pip install sympy)", file=sys.stderr)
        sys.exit(4)
    from fractions import Fraction

    names = spec["vars"]
    syms = sympy.symbols([f"v{j}" for j in range(len(names))])
    consts = {}

    def const(c):
        c = float(c)
        f = Fraction(c)
        if abs(c) < 1e6 and f.denominator <= 1024:
            return sympy.Rational(f.numerator, f.denominator)
        name = f"c{len(consts)}"
        consts[name] = c
        return sympy.Symbol(name)

    funcs = {
        "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "exp": sympy.exp,
        "ln": sympy.log, "sqrt": sympy.sqrt, "abs": sympy.Abs, "sign": sympy.sign,
        "tanh": sympy.tanh, "sinh": sympy.sinh, "cosh": sympy.cosh, "atan": sympy.atan,
    }

    def build(t):
        op = t[0]
        if op == "const":
            return const(t[1])
        if op == "var":
            return syms[t[1]]
        if op == "neg":
            return -build(t[1])
        if op in ("add", "sub", "mul", "div"):
            a, b = build(t[1]), build(t[2])
            if op == "add":
                return a + b
            if op == "sub":
                return a - b
            return a * b if op == "mul" else a / b
        if op == "powi":
            return build(t[1]) ** sympy.Integer(t[2])
        if op == "powf":
            return build(t[1]) ** const(t[2])
        if op == "call":
            return funcs[t[1]](build(t[2]))
        raise ValueError(f"unknown node {op}")

    total = sum(build(t) for t in spec["objectives"])
    n = len(syms)
    s_exprs = [sympy.diff(total, v) for v in syms]
    # The upper triangle as one flat list: lambdify shares common subexpressions only across a
    # flat list (nested lists were 6× slower to evaluate on gaussian-wells-4d).
    rows, cols = np.triu_indices(n)
    h_exprs = [sympy.diff(s_exprs[i], syms[j]) for i, j in zip(rows, cols)]
    modules = [consts, "math"]
    s_raw = sympy.lambdify(syms, s_exprs, modules=modules, cse=True)
    h_raw = sympy.lambdify(syms, h_exprs, modules=modules, cse=True)

    def s(x):
        try:
            return np.array(s_raw(*x), dtype=float)
        except (ValueError, OverflowError, ZeroDivisionError):
            return np.full(n, np.nan)

    def jac(x):
        try:
            upper = np.array(h_raw(*x), dtype=float)
            h = np.empty((n, n))
            h[rows, cols] = upper
            h[cols, rows] = upper
            return h
        except (ValueError, OverflowError, ZeroDivisionError):
            return np.full((n, n), np.nan)

    return s, jac


def map_run(s, jac, spec, run):
    from scipy.stats import qmc

    lo = np.array([r[0] for r in spec["region"]], dtype=float)
    hi = np.array([r[1] for r in spec["region"]], dtype=float)
    n = len(lo)
    scale = float(np.max(hi - lo))
    tol = float(spec["tolerance"])
    max_starts = int(spec["max_starts"])
    max_seconds = float(spec["max_seconds"])
    targets = [np.array(e, dtype=float) for e in run["equilibria"]]
    matched = [False] * len(targets)
    found = []
    halton = qmc.Halton(d=n, scramble=True, seed=int(run["seed"]))
    starts = 0
    stop = "max-starts"
    batch = np.empty((0, n))
    t0 = time.perf_counter()

    def complete():
        return len(found) >= len(targets) and all(matched)

    with np.errstate(all="ignore"):
        while not complete():
            if starts >= max_starts:
                stop = "max-starts"
                break
            if time.perf_counter() - t0 > max_seconds:
                stop = "time-limit"
                break
            if len(batch) == 0:
                batch = lo + (hi - lo) * halton.random(min(4096, max_starts - starts))
            x0, batch = batch[0], batch[1:]
            starts += 1
            try:
                res = optimize.root(s, x0, jac=jac, method="hybr")
            except Exception:  # a failed start is a start that found nothing
                continue
            if not res.success:
                continue
            x = np.asarray(res.x, dtype=float)
            if not np.all(np.isfinite(x)) or np.any(x < lo - tol) or np.any(x > hi + tol):
                continue
            sx, hx = s(x), jac(x)
            if not np.linalg.norm(sx) <= 1e-8 * (1.0 + np.linalg.norm(hx) * scale):
                continue
            if any(np.max(np.abs(x - f)) <= tol for f in found):
                continue
            found.append(x)
            for i, t in enumerate(targets):
                if not matched[i] and np.max(np.abs(x - t)) <= tol:
                    matched[i] = True
        else:
            stop = "complete"
    seconds = time.perf_counter() - t0
    return {
        "seed": run["seed"],
        "starts": starts,
        "seconds": seconds,
        "found": len(found),
        "matched": sum(matched),
        "complete": stop == "complete",
        "stop": stop,
    }


def map_main():
    spec = json.loads(sys.stdin.readline())
    s, jac = map_functions(spec)
    print(json.dumps({"ready": True}), flush=True)
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        if line.strip():
            print(json.dumps(map_run(s, jac, spec, json.loads(line))), flush=True)


def main():
    if len(sys.argv) == 3 and sys.argv[1:] == ["map", "--check"]:
        map_functions({"vars": ["x"], "objectives": [["var", 0]]})  # exits 4 without sympy
        return
    if len(sys.argv) == 2 and sys.argv[1] == "map":
        map_main()
        return
    if len(sys.argv) != 3:
        print("usage: peers.py IN.json OUT.json | peers.py map < IN.jsonl", file=sys.stderr)
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
