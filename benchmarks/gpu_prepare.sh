#!/usr/bin/env bash
# Prepares a run of benchmarks/gpu_h200.sh on a GPU machine without a network, on a machine with one (it needs the package index).
# Run it in the root of the checkout the session sends, then call
#   then, on the GPU machine, with benchmarks/.device/ copied beside the checkout: bash benchmarks/gpu_h200.sh
# It fills benchmarks/.device (ignored by git, benchmarks/.gitignore; about 22 MB of the call's 64 MiB):
#   whl/     the wheels the device lacks, for its Python (PYVER, default 3.12: /work/.library/device/KINDS.md says
#            the device's python3 is 3.12.3 with torch 2.11, torchvision, accelerate, pandas, matplotlib, scipy,
#            scikit-learn, rich, ... but no fastai); whl/PYVER records the version, gpu_h200.sh checks it there
#   cifar10-jpeg.tgz   the data (DATA_SRC, default $RESNET_STUDY_DATA, else ../shared/data/cifar10-jpeg.tgz)
# and checks, without the device, that every requirement of those wheels is either another of them or on the
# device (the list below, from KINDS.md), and that the call stays under 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=benchmarks/.device
PYVER=${PYVER:-3.12}
DATA_SRC=${DATA_SRC:-${RESNET_STUDY_DATA:-../shared/data/cifar10-jpeg.tgz}}
PY=${PYTHON:-python3}
# fastai and what it needs that the device lacks, at the versions the project is developed with; fastprogress 1.0.3:
# 1.1 needs python-fasthtml and its web stack, which the device lacks too. plum-dispatch is compiled per Python.
WHEELS=${WHEELS:-"fastai==2.8.12 fastcore==2.2.41 fasttransform==0.0.5 fastdownload==0.0.8 fastprogress==1.0.3 plum-dispatch==2.9.0 beartype==0.23.1"}
git check-ignore -q "$DEV/x" || { echo "$DEV is not ignored by git (benchmarks/.gitignore)"; exit 1; }

rm -rf "$DEV/whl"; mkdir -p "$DEV/whl"
$PY -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$DEV/whl" $WHEELS
echo "$PYVER" > "$DEV/whl/PYVER"
[ -e "$DEV/cifar10-jpeg.tgz" ] || cp "$DATA_SRC" "$DEV/cifar10-jpeg.tgz" || { echo "no CIFAR-10 archive at $DATA_SRC: give DATA_SRC=<path>"; exit 1; }

PYVER=$PYVER DEV=$DEV $PY - <<'PYEOF'
import os, re, zipfile
from pathlib import Path
from packaging.requirements import Requirement
# the device's Python packages (KINDS.md, "Python packages already there", read 2026-11-17)
DEVICE = """absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit
cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic frozenlist
fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta
jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities
linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack
multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-cublas
nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand
nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13
nvidia-nvtx onnx onnx-ir onnxruntime onnxscript optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas
pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo
pygments pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn
scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy
tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch
torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer typing-extensions
typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp""".split()
NOT_IMPORTED = {"spacy": "fastai.text only"}
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
env = {"python_version": os.environ["PYVER"], "python_full_version": os.environ["PYVER"] + ".0", "sys_platform": "linux",
       "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython", "extra": ""}
wheels = sorted(Path(os.environ["DEV"], "whl").glob("*.whl"))
have = {norm(w.name.split("-")[0]) for w in wheels} | {norm(n) for n in DEVICE} | set(NOT_IMPORTED)
missing = []
for w in wheels:
    meta = next(n for n in zipfile.ZipFile(w).namelist() if n.endswith(".dist-info/METADATA"))
    for line in zipfile.ZipFile(w).read(meta).decode().splitlines():
        if not line.startswith("Requires-Dist:"): continue
        r = Requirement(line.split(":", 1)[1].strip())
        if r.marker is not None and not r.marker.evaluate(env): continue
        if norm(r.name) not in have: missing.append(f"{w.name} needs {r}")
print(f"{len(wheels)} wheels for Python {os.environ['PYVER']}: " + ", ".join(w.name.split("-")[0] + " " + w.name.split("-")[1] for w in wheels))
if missing: raise SystemExit("on neither the device nor in the wheels:\n  " + "\n  ".join(missing))
PYEOF

size=$(( $(git ls-files -z -co --exclude-standard | xargs -0 cat 2>/dev/null | wc -c) + $(du -sb "$DEV" | cut -f1) ))
echo "the call carries $((size / 1024 / 1024)) MiB (at most 64)"
[ "$size" -lt $((64 * 1024 * 1024)) ] || { echo "over 64 MiB: too much to copy over with the checkout"; exit 1; }
