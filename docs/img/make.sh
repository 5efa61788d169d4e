#!/usr/bin/env bash
# Regenerates the README's pictures from the repository root: `bash docs/img/make.sh`.
# Needs a release build (`cargo build --release`) and python3 with numpy.
set -euo pipefail
cd "$(dirname "$0")/../.."
bflow=target/release/bflow
# 1. A map: the Müller–Brown potential, its minima, transition states and basins.
"$bflow" map examples/problems/muller-brown.toml --plot docs/img/muller-brown.png > /dev/null
# 2. A training run: per-task gradients of a simulated 3-task model over 40 steps, saved
#    as one T×K×n .npy (how a PyTorch loop would save them), diagnosed over the steps.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/grads.npy" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(0)
T, K, n = 40, 3, 5000
shared = rng.standard_normal(n)
conflict = rng.standard_normal(n)
steps = []
for t in range(T):
    decay = np.exp(-t / 15)
    noise = 0.3 * rng.standard_normal((K, n))
    g = np.stack([
        decay * shared + 0.2 * conflict,                   # task 0
        decay * shared - (0.2 + t / T) * conflict,         # task 1: drifts into conflict with 0
        0.5 * decay * shared,                              # task 2
    ]) + noise * decay
    steps.append(g)
np.save(sys.argv[1], np.asarray(steps, dtype=np.float32))
PY
"$bflow" diagnose --gradients "$tmp/grads.npy" --plot docs/img/trajectory.png > /dev/null
