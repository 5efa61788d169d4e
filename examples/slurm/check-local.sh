#!/usr/bin/env bash
# Runs map.sbatch's shards locally, one after another (no Slurm needed), preempts one of them
# half way (its checkpoint cut to a prefix plus a partial line, as a kill leaves it) and
# reruns it, merges with merge.sbatch, and checks that the merged map equals the map of one
# `bflow map` on a single machine (the JSON without its timing field `seconds`).
#
#   examples/slurm/check-local.sh                 # bflow on the PATH
#   BFLOW=target/release/bflow examples/slurm/check-local.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BFLOW=${BFLOW:-bflow}
case $BFLOW in */*) BFLOW=$(cd "$(dirname "$BFLOW")" && pwd)/$(basename "$BFLOW") ;; esac
export BFLOW
export PROBLEM=${PROBLEM:-e4} STARTS=${STARTS:-1200} SEED=${SEED:-3}
N=${N:-4}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

shard() {
  SLURM_ARRAY_TASK_ID=$1 SLURM_ARRAY_TASK_COUNT=$N SLURM_CPUS_PER_TASK=2 \
    bash "$here/map.sbatch" > "shard-$1.log" 2>&1
}

for ((i = 0; i < N; i++)); do
  shard "$i"
done

# Preempt shard 0 half way: keep the header and half its records, then part of the next line.
lines=$(wc -l < shard-0.jsonl)
keep=$(( (lines + 1) / 2 ))
head -n "$keep" shard-0.jsonl > cut.jsonl
sed -n "$((keep + 1))p" shard-0.jsonl | head -c 40 >> cut.jsonl
mv cut.jsonl shard-0.jsonl
rm shard-0.json
shard 0
grep -q "resuming from shard-0.jsonl: $((keep - 1)) starts mapped before (a partial last line" shard-0.log

bash "$here/merge.sbatch" > merge.log 2>&1
"$BFLOW" map "$PROBLEM" --starts "$STARTS" --seed "$SEED" --json single.json > single.log

python3 - map.json single.json <<'PY'
import json, sys
merged, single = (json.load(open(p)) for p in sys.argv[1:3])
for m in (merged, single):
    m.pop("seconds")
if merged != single:
    sys.exit("the merged map differs from the single-machine map")
print(f"merged map of {len(merged['equilibria'])} equilibria from {merged['starts']} starts "
      "equals the single-machine map")
PY
