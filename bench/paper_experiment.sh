#!/usr/bin/env bash
# bench/paper_experiment.sh — the seed paper's experiment in one command: builds weft (Release,
# build-bench/), exports the paper's 3-layer encoder, pretrains it by link prediction on the unlabelled
# traffic of ../shared/data, finetunes it few-shot on intrusion detection, traffic classification and
# malware family classification (5 seeds, pretrained vs from scratch) and writes
# bench/results/paper-experiment-<date>.json, bench/paper_experiment*.svg and the "Paper experiment"
# section of bench/README.md (bench/paper_experiment.py). About 31 minutes on 2 cores.
#   bench/paper_experiment.sh [bench/paper_experiment.py options, e.g. --seeds 3 --pretrain-epochs 2]
set -euo pipefail
t0=$(date +%s.%N)
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${WEFT_BENCH_BUILD:-build-bench}"
py="${WEFT_BENCH_PY:-$root/bench/.venv/bin/python}"
[ -x "$py" ] || bash bench/setup_peers.sh
echo "[$(date +%T)] building weft (Release, $build/)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target weft_cli >/dev/null
build_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
exec "$py" bench/paper_experiment.py --weft "$build/weft" --t0 "$t0" --build-s "$build_s" "$@"
