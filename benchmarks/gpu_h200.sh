#!/usr/bin/env bash
# The GPU benchmark, prepared for one call on a lent H200 (the `device` tool's `run`), under 8 minutes:
# the throughput table of benchmarks/throughput.py on the GPU, the memory of ResNet-110/1202 steps, and
# the paper's full ResNet-20 schedule, projected from the throughput and run for as long as the call allows.
#
# Before the call, here (see the device tool's README; fastai is not installed there):
#   echo /.whl/ >> .git/info/exclude; echo /.data/ >> .git/info/exclude
#   mkdir -p .data && cp ../shared/data/cifar10-jpeg.tgz .data/
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 -d .whl fastai==2.8.12 fastcore fastprogress fastdownload plum-dispatch
#   (plus any of fastai's requirements the machine lacks: `unzip -p .whl/fastai-*.whl '*/METADATA' | grep ^Requires-Dist`)
# The call: run(command="bash benchmarks/gpu_h200.sh", carry=[".whl", ".data"], timeout_s=480)
set -uo pipefail
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
OUT=${OUT:-benchmarks/results/h200}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
DATA=.data/cifar10-jpeg.tgz
timeout 200 python3 benchmarks/throughput.py --data $DATA --device cuda --steps 100 --warmup 20 \
  --out "$OUT/throughput.json" 2>&1 | grep -v "Epoch 1/" | tee "$OUT/throughput.log"
timeout 60 python3 benchmarks/memory.py --device cuda --out "$OUT/memory.json" 2>&1 | tee "$OUT/memory.log"
# the paper's schedule itself, from the CLI; a cut-off run still leaves its metrics.csv behind
timeout 180 python3 -c "import sys; from resnet_study.cli import main; sys.exit(main())" train --arch resnet20 --data $DATA --budget paper --out "$OUT/resnet20-paper" --quiet \
  2>&1 | tail -5 | tee "$OUT/train.log"
cp "$OUT"/resnet20-paper/metrics.csv "$OUT"/resnet20-paper-metrics.csv 2>/dev/null || true
rm -rf "$OUT"/resnet20-paper
