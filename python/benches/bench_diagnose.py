"""bflow.diagnose on K × n float32 gradients against numpy's own Gram matrix ``X @ X.T``.

Prints the median time of each over repeats and their ratio, and checks that bflow's B
agrees with numpy's in float64 accumulation to 1e-12 relative. Not a test: run it by hand,

    python python/benches/bench_diagnose.py [--k 3] [--n 2000000] [--repeats 15]

numpy's float32 ``X @ X.T`` accumulates in float32 (fast, about 1e-4 relative here); the
float64 figure (convert, then ``X @ X.T``) is the accuracy bflow gives. On machines where
OPENBLAS_CORETYPE is set, unset it (and OPENBLAS_L2_SIZE) for numpy's fastest kernel.
"""

import argparse
import os
import statistics
import time

import numpy as np

import bflow


def median_seconds(f, repeats):
    f()  # warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def numpy_b(g):
    s = g.sum(axis=0, dtype=g.dtype)
    gram = g @ g.T
    return float(s @ s) / float(np.trace(gram)), gram


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--n", type=int, default=2_000_000)
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.k, args.n), dtype=np.float32)
    x[1] -= 0.9 * x[0]  # some conflict
    x64 = x.astype(np.float64)

    t_bflow = median_seconds(lambda: bflow.diagnose(x), args.repeats)
    t_np32 = median_seconds(lambda: x @ x.T, args.repeats)
    t_np64 = median_seconds(lambda: numpy_b(x.astype(np.float64)), args.repeats)

    d = bflow.diagnose(x)
    b64, _ = numpy_b(x64)
    b32, _ = numpy_b(x)
    rel64 = abs(d.B - b64) / b64
    rel32 = abs(d.B - b32) / b64
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{i['internal_api']} {i.get('architecture', '')} "
                         f"{i['num_threads']} threads" for i in threadpool_info())
    except ImportError:
        blas = "threadpoolctl not installed"
    print(f"K = {args.k}, n = {args.n}, float32, median of {args.repeats}; numpy {np.__version__} "
          f"({blas}); OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}")
    print(f"bflow.diagnose               {t_bflow * 1e3:9.2f} ms")
    print(f"numpy X @ X.T (float32)      {t_np32 * 1e3:9.2f} ms   ratio bflow/numpy = "
          f"{t_bflow / t_np32:.2f}")
    print(f"numpy float64 (astype, X@X.T, s)  {t_np64 * 1e3:5.2f} ms   ratio bflow/numpy = "
          f"{t_bflow / t_np64:.2f}")
    print(f"B: bflow {d.B:.17g}; numpy float64 {b64:.17g} (rel {rel64:.1e}); "
          f"numpy float32 {b32:.9g} (rel {rel32:.1e})")
    if rel64 > 1e-12:
        raise SystemExit(f"bflow's B differs from numpy's float64 B by {rel64:.1e} > 1e-12")


if __name__ == "__main__":
    main()
