#!/usr/bin/env bash
# Land finished runs, trained outside the repository, into the committed runs/: their small files (config.json,
# metrics.csv, summary.json, and signals.csv measured here from the final checkpoint), then everything drawn from
# the committed runs: the budget's report, the README's generated blocks and the walkthrough's saved outputs.
#
#   tools/land_runs.sh SRC DEST RUN [RUN ...]
#   e.g. tools/land_runs.sh /work/study/cpu-12800 runs/cpu-12800 resnet20-s0 resnet20-s1
#
# Checkpoints stay in SRC: they are derived from the data set and never committed. Then commit, and run
# `pytest tests/test_walkthrough.py tests/test_readme.py tests/test_structure.py`.
set -euo pipefail
src=$(realpath -m -- "$1") dest=$(realpath -m -- "$2"); shift 2  # as given from the caller's directory
cd "$(dirname "$0")/.."
for run in "$@"; do
  [ -f "$src/$run/summary.json" ] || { echo "$src/$run: not finished (no summary.json); nothing landed" >&2; exit 1; }
done
for run in "$@"; do
  [ -f "$src/$run/signals.csv" ] || resnet-study signals "$src/$run"
  mkdir -p "$dest/$run"
  cp "$src/$run"/{config.json,metrics.csv,summary.json,signals.csv} "$dest/$run/"
done
resnet-study report "$dest"/*/ --out "$dest/report"
resnet-study readme
python tools/notebooks.py
