#!/usr/bin/env python3
"""Measure DoubleDouble errors against mpmath (needs mpmath; not a crate dependency).

    cargo test -p bflow-dd --lib dd_dump -- --ignored --nocapture | python3 crates/bflow-dd/tools/dd_check.py
Prints, per operation, the largest relative error in units of eps = 2^-104
(and the largest absolute error in eps for functions with zeros inside the range).
"""
import sys
from mpmath import mp, mpf
import mpmath

mp.prec = 400
EPS = mpf(2) ** -104
F = {
    "sqrt": mpmath.sqrt, "exp": mpmath.exp, "ln": mpmath.log, "ln_1p": mpmath.log1p,
    "sin": mpmath.sin, "cos": mpmath.cos,
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}
worst = {}
for line in sys.stdin:
    if not line.startswith("DUMP "):
        continue
    w = line.split()[1:]
    name, nums = w[0], [mpf(float(v)) for v in w[1:]]
    args = [nums[i] + nums[i + 1] for i in range(0, len(nums) - 2, 2)]
    got = nums[-2] + nums[-1]
    want = F[name](*args)
    err = abs(got - want)
    rel = err / abs(want) if want != 0 else (0 if err == 0 else mpf("inf"))
    r, a = worst.get(name, (0, 0))
    worst[name] = (max(r, rel / EPS), max(a, err / EPS))
for name, (r, a) in worst.items():
    print(f"{name:7s} max rel {float(r):9.3f} eps   max abs {float(a):9.3g} eps")
