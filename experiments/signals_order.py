"""How much `run_signals`' old order moved Figure 7's responses, measured on the published nets.

`run_signals` used to take the gradients (a training-mode forward of a batch of 500 training images, which moves every
BN's running statistics a tenth of the way to that batch's) before measuring the test-set responses in evaluation
mode. It now measures the responses first. For each published reference net (`resnet_study.reference`) this script
measures the test error and the responses as the fixed order does (the checkpoint as it is), then runs
`layer_signals` in training mode on run_signals' batch (seed 0, no augmentation) and measures them again: the old
order. It writes `signals_order.csv` (per layer) and `signals_order_errors.csv` (per net) into `--out`.

    python experiments/signals_order.py --data ../shared/data/cifar10-jpeg.tgz --out runs/reference-weights
"""
from __future__ import annotations
import argparse, sys
from pathlib import Path

import pandas as pd
import torch

from resnet_study.data import cifar10_dls
from resnet_study.reference import REFERENCE_DEPTHS, load_reference
from resnet_study.signals import layer_response_stds, layer_signals, response_layers
from resnet_study.sources import load_cifar10


def test_measure(ref, x, y, bs: int = 500):
    "(test error %, response std per layer) of the reference net `ref` in evaluation mode, in one pass"
    ref.eval()
    xn = torch.cat([ref.normalize(x[i:i + bs]) for i in range(0, len(x), bs)])
    preds = []
    h = ref.net.register_forward_hook(lambda mod, inp, out: preds.append(out.argmax(1)))
    try: stds = layer_response_stds(ref.net, xn, bs)
    finally: h.remove()
    return (torch.cat(preds) != y).double().mean().item() * 100, stds.values


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--depths", type=int, nargs="+", default=list(REFERENCE_DEPTHS))
    p.add_argument("--n-batch", type=int, default=500, help="run_signals' gradient batch")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    data = load_cifar10(a.data)
    dl = cifar10_dls(data, bs=a.n_batch, device="cpu", seed=0, augment=False).train
    xb, yb = dl.one_batch()
    xb = dl.decode(xb)  # back to uint8 images: the reference nets normalise their own way
    layers, errors = [], []
    for d in a.depths:
        ref = load_reference(d)
        err_fixed, fixed = test_measure(ref, data.x_test, data.y_test)
        layer_signals(ref.net.train(), ref.normalize(xb), yb)  # the gradient pass, which the old order ran first
        err_old, old = test_measure(ref, data.x_test, data.y_test)
        names = [n for n, _ in response_layers(ref.net)]
        layers.append(pd.DataFrame(dict(net=f"resnet{d}", layer=range(1, len(names) + 1), name=names,
                                        response_std=fixed, response_std_old_order=old)))
        errors.append(dict(net=f"resnet{d}", test_error=err_fixed, test_error_old_order=err_old,
                           mean_response_change_pct=100 * (old / fixed - 1).mean(),
                           max_abs_response_change_pct=100 * abs(old / fixed - 1).max()))
        print(errors[-1], flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    pd.concat(layers).to_csv(a.out / "signals_order.csv", index=False, float_format="%.6g")
    pd.DataFrame(errors).to_csv(a.out / "signals_order_errors.csv", index=False, float_format="%.4g")
    return 0


if __name__ == "__main__":
    sys.exit(main())
