#!/usr/bin/env bash
# The study's long runs on this project's 2-core CPU, one after another, each with both threads, from a fixed commit.
#
#   nohup tools/background_runs.sh ITERS OUT RUN [RUN ...] > queue.log 2>&1 &
#   e.g. nohup tools/background_runs.sh 12800 /work/study/cpu-12800 resnet20-s0 resnet20-s1 > queue.log 2>&1 &
#
# Why one run at a time: a session of this project may start on a new machine (one did; the next one found the
# last machine's files), where checkpoints outside the repository are gone, and checkpoints are never committed; so a
# run should end within the session that starts it.
# One process with both threads ends each run sooner than two processes with one thread each end two (measured:
# ResNet-20 in bf16 at about 1,000 images/s with two threads, against about 340 per process with two processes).
# The code is a `git worktree` of HEAD made here, imported through PYTHONPATH, so that edits to the checkout cannot
# change a run in flight. A RUN is ARCH-sSEED (resnet20-s0, plain56-s2, resnet20-B-s1); a finished run is skipped, an
# unfinished one resumed. With UNTIL=HH:MM a run is not started when it would end later than that: its time is
# estimated from the images/s of the runs already finished in OUT (this machine), else of those committed in runs/cpu-ITERS
# with a quarter more time (other machines), scaled by depth (a step's cost grows about as the layer count).
# `tools/land_runs.sh` then copies finished runs' small files into runs/. Never edit this file while a queue runs:
# bash reads a script as it goes, and one session's queue started a run its UNTIL should have refused.
set -u
iters=$1 out=$2; shift 2
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(command -v resnet-study) || { echo "resnet-study is not on PATH: activate the project's environment" >&2; exit 2; }
data=${RESNET_STUDY_DATA:?set RESNET_STUDY_DATA to the CIFAR-10 copy to train on}
wt="$repo/.worktrees/$(git -C "$repo" rev-parse --short HEAD)"
export PYTHONPATH="$wt" OMP_NUM_THREADS=$(nproc)
mkdir -p "$out"
for run in "$@"; do
  arch=${run%-s*} seed=${run##*-s} shortcut=()
  case $arch in *-[ABC]) shortcut=(--shortcut "${arch##*-}"); arch=${arch%-*};; esac
  if [ -f "$out/$run/summary.json" ]; then echo "$(date +%T) $run: finished already"; continue; fi
  if [ -n "${UNTIL:-}" ]; then
    need=$(python - "$out" "$arch" "$iters" "$repo" <<'PY'
import json, re, sys
from pathlib import Path
out, arch, iters, repo = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
depth = lambda a: int(re.search(r"\d+", a).group())
rate = lambda fs: [json.loads(f.read_text())["images_per_second"] * depth(f.parent.name) / depth(arch) for f in fs]
# this machine's own finished runs first; the committed ones came from other machines, which differ (a ResNet-110 ran at
# 166 images/s on one, 204 on another), so their estimate gets a quarter more time
rates, margin = rate(out.glob("*/summary.json")), 1.0
if not rates: rates, margin = rate(repo.glob(f"runs/cpu-{iters}/*/summary.json")), 1.25
print(round(margin * iters * 128 / (sum(rates) / len(rates))) if rates else 0)
PY
)
    if [ $(( $(date +%s) + need )) -gt "$(date -d "$UNTIL" +%s)" ]; then
      echo "$(date +%T) $run: not started, about $((need / 60)) min would end after $UNTIL"; continue
    fi
  fi
  [ -d "$wt" ] || git -C "$repo" worktree add --detach "$wt" HEAD >/dev/null
  resume=(); [ -d "$out/$run" ] && resume=(--resume)
  echo "$(date +%T) $run: start ${resume[*]}${need:+ (about $((need / 60)) min)}"
  "$bin" train --arch "$arch" "${shortcut[@]}" --iters "$iters" --seed "$seed" --data "$data" --out "$out/$run" \
    --device cpu --quiet "${resume[@]}" > "$out/$run.log" 2>&1
  echo "$(date +%T) $run: exit $?"
done
