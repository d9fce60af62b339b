"""Rewrite run folders' config.json written before configs became portable (issue 24): the data's absolute path
becomes `data_record` (its name and the SHA-256 of the images and labels the run used), the command line loses
this machine's paths (`portable_command`), and a CPU run's `bf16: null` (float32 then) becomes `false`. Idempotent; the data is read from the path the config names if it is
there, else from --data or $RESNET_STUDY_DATA when the name matches; without it the SHA-256 is left null.

    python tools/migrate_configs.py runs            # every config.json under runs/
    python tools/migrate_configs.py runs/cpu-12800 --data ../shared/data/cifar10-jpeg.tgz
"""
import argparse, json, os, sys
from dataclasses import replace
from pathlib import Path

from resnet_study.files import atomic_write
from resnet_study.runs import data_record, portable_command
from resnet_study.runfolder import read_json
from resnet_study.train import TrainConfig, run_dls


def migrate(f: Path, data_paths: dict, records: dict) -> bool:
    "Rewrite config.json `f` in place if it is of the old form; True when it changed"
    d = read_json(f)
    old = d["config"].get("data")
    command = d.get("command")
    portable = command is None or command == portable_command(command)
    # before bf16 became the default on CPUs with bf16 units, None meant float32 on a CPU: say so, so that a resume keeps it
    cpu_float32 = d["config"].get("bf16") is None and str(d.get("device", "")).startswith("cpu")
    if cpu_float32: d["config"]["bf16"] = False
    if old is None and isinstance(d.get("data"), dict) and portable and not cpu_float32: return False
    if old is not None or not isinstance(d.get("data"), dict):
        name = Path(old).name if old else None
        path = Path(old) if old and Path(old).exists() else data_paths.get(name)
        cfg = TrainConfig.from_dict(d["config"])
        key = (str(path), cfg.dataset, cfg.budget.subset)
        if path is not None and key not in records:
            records[key] = data_record(run_dls(replace(cfg, data=str(path)), device="cpu"))
        rec = dict(records[key]) if path is not None else dict(name=name, sha256=None, n_train=d.get("n_train"), n_test=None)
        rec["name"] = name or rec["name"]
        if d.get("n_train") is not None and rec["n_train"] != d["n_train"]: raise SystemExit(f"{f}: trained on {d.get('n_train')} images, {path} gives {rec['n_train']}")
        d["config"]["data"] = None
        d = {**{k: v for k, v in d.items() if k != "data"}, "data": rec}
        first = [k for k in ("config", "dataset", "data") if k in d]
        d = {k: d[k] for k in first + [k for k in d if k not in first]}
    if command: d["command"] = portable_command(command)  # None: it was not the command line (a notebook's kernel)
    with atomic_write(f) as tmp: tmp.write_text(json.dumps(d, indent=2, default=str) + "\n")
    return True


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", type=Path, help="run folders, or folders holding them")
    p.add_argument("--data", type=Path, help="the data, where a config's own path is gone (default $RESNET_STUDY_DATA)")
    a = p.parse_args(argv)
    given = [x for x in (a.data, os.environ.get("RESNET_STUDY_DATA")) if x]
    data_paths = {Path(x).name: Path(x) for x in reversed(given)}
    records, n = {}, 0
    for folder in a.folders:
        for f in sorted(folder.rglob("config.json")):
            if migrate(f, data_paths, records): n += 1; print(f"rewrote {f}")
    print(f"{n} config.json rewritten", file=sys.stderr)


if __name__ == "__main__": main()
