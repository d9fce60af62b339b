#!/usr/bin/env bash
# One time-boxed run on a machine with one CUDA GPU (sized for an H200), over within 9 minutes: the training throughput of
# ResNet-20/56/110 at batch 128 (bf16 autocast, channels-last; eager, torch.compile, and compile + CUDA graphs;
# fastai's per-batch overhead), then the paper's 64k-iteration CIFAR-10 schedule for ResNet-20 and as many of
# plain-20, plain-56 and ResNet-56 as fit beside it on the one GPU, each its own process and run folder.
# The recipe, the deadlines and how the runs are chosen: the table at the top of benchmarks/gpu_h200.py.
#
# Before the call, here, in the root of the checkout the session sends (fastai is not installed there, and
# nothing can be downloaded there):
#   bash benchmarks/gpu_prepare.sh      # the wheels for the device's Python 3.12 and the data, into benchmarks/.device
#   DRY_RUN=1 PYTHON=<a python with the project> OUT=/tmp/gpu-dry WORK=/tmp/gpu-dry-work DATA=<a small CIFAR-10
#     folder or archive, e.g. 100 train and 20 test images a class> bash benchmarks/gpu_h200.sh
#                                       # optional: the same steps and files on the CPU at 1 thread, in about 2.5 minutes
# The call (one, of at most 10 minutes; the script is over by 540 s):
#   bash benchmarks/gpu_h200.sh
# What comes back from $OUT: gpu.txt (machine), log.txt (this script's log), report.json (every number),
# runs.tgz (runs/<net>/{config.json,metrics.csv,summary.json}, logs/), checkpoints.tgz (the runs that did not
# finish, to continue with `resnet-study train --resume --out runs/<net>` in a later call).
set -uo pipefail
export T0=$(date +%s.%N) PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
DEV=benchmarks/.device
export OUT=${OUT:-benchmarks/results/h200} WORK=${WORK:-/tmp/resnet_study_gpu} DATA=${DATA:-$DEV/cifar10-jpeg.tgz}
PY=${PYTHON:-python3}
DRY=${DRY_RUN:-0}
mkdir -p "$OUT" "$WORK"
exec > >(tee -a "$OUT/log.txt") 2>&1  # everything below also into log.txt, which comes back
TEE=$!
finish() { exec >&- 2>&-; wait $TEE; exit "$1"; }  # let tee write the last lines before the call collects $OUT
fail() { echo "gpu_h200.sh: $*"; finish 2; }

# 1. fastai and its companions from the carried wheels, into $WORK/site
have=$($PY -c 'import sys; print("%d.%d" % sys.version_info[:2])') || fail "no $PY here"
if [ -f $DEV/whl/PYVER ]; then
  want=$(cat $DEV/whl/PYVER)
  if [ "$DRY" = 1 ]; then  # every wheel this Python takes; for the others (built for the device's) the environment's own copy stands in
    for w in $DEV/whl/*.whl; do
      $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" "$w" >/dev/null 2>&1 \
        || echo "dry run: $(basename "$w") is for Python $want, not $have: this environment's own copy is used"
    done
  else
    [ "$have" = "$want" ] || fail "this machine's $PY is Python $have, the wheels in $DEV/whl are for $want: run 'PYVER=$have bash benchmarks/gpu_prepare.sh' and call again"
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" $DEV/whl/*.whl \
      || fail "the wheels in $DEV/whl did not install on Python $have"
  fi
  export PYTHONPATH=$WORK/site:$PWD
elif [ "$DRY" = 1 ]; then
  echo "dry run: no $DEV/whl, this environment's fastai is used"; export PYTHONPATH=$PWD
else
  fail "no $DEV/whl: run 'bash benchmarks/gpu_prepare.sh' in this checkout before the call, and carry benchmarks/.device"
fi
[ -e "$DATA" ] || fail "no data at $DATA: run 'bash benchmarks/gpu_prepare.sh', or give DATA=<CIFAR-10 archive or folder>"

# 2. the machine, and a check that everything imports and (for the call) that torch sees the GPU, before any time is spent
{ [ "$DRY" = 1 ] || nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv; } 2>&1 | tee "$OUT/gpu.txt"
DRY=$DRY $PY - <<'PYEOF' 2>&1 | tee -a "$OUT/gpu.txt"; [ "${PIPESTATUS[0]}" = 0 ] || fail "the environment check failed (above)"
import os, platform, sys
import torch, torchvision, fastai, fastcore, fastprogress, resnet_study.train  # what every process imports
print(f"python {platform.python_version()} at {sys.executable}; torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"fastai {fastai.__version__} ({os.path.dirname(fastai.__file__)}), fastcore {fastcore.__version__}, fastprogress {fastprogress.__version__}; "
      f"{os.cpu_count()} cpus")
if os.environ["DRY"] != "1":
    if not torch.cuda.is_available(): sys.exit("torch sees no GPU")
    p = torch.cuda.get_device_properties(0)
    print(f"{p.name}: {p.total_memory / 2**30:.1f} GiB, {p.multi_processor_count} SMs, bf16 {torch.cuda.is_bf16_supported()}")
PYEOF

# 3. the phases, each with its deadline (benchmarks/gpu_h200.py)
$PY benchmarks/gpu_h200.py
finish $?
