"""Run every stage of the workflow in one process, without Snakemake, and time each stage.

For machines where Snakemake is not installed (a lent GPU box) and for per-stage timings:

    python bench/stages.py --configfile configs/smoke.yaml --device cuda --outdir results/stages

Configs are merged over config.yaml as Snakemake merges them. With --data the data stage is
skipped and that HDF5 file (written by the data stage) is used instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import yaml

try:
    import binlatent  # noqa: F401
except ImportError:  # running from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from binlatent import stages
from binlatent.variants import model_specs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def merged(base: dict, override: dict) -> dict:
    """Deep update of `base` by `override`, as Snakemake merges config files."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(files: list[str], device: str | None, outdir: str | None) -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for path in files:
        config = merged(config, yaml.safe_load(Path(path).read_text()))
    if device:
        config["device"] = device
    if outdir:
        config["outdir"] = outdir
    return config


def run(config: dict, data: str | None, threads: int) -> dict[str, float]:
    """Every stage in order; returns the wall time of each, in seconds."""
    out = Path(config["outdir"])
    timings: dict[str, float] = {}

    def path(*parts: str) -> str:
        return str(out.joinpath(*parts))

    def timed(name: str, fn, *args) -> None:
        t0 = time.perf_counter()
        fn(config, *args)
        timings[name] = time.perf_counter() - t0
        logging.info("%s took %.1f s", name, timings[name])

    data = data or path("data", f"{config['dataset']}.h5")
    if not Path(data).exists():
        timed("binarize", stages.binarize, data)
    stage1, codes = path("stage1", "autoencoder.pt"), path("stage1", "codes.h5")
    specs = model_specs(config)
    timed("pretrain_autoencoder", stages.pretrain_stage1, data, stage1, codes, path(".state", "s1.pt"), threads)
    curves = {"stage1": codes}
    for n_hidden in sorted({spec.rbm_hidden for spec in specs.values() if spec.stage2}):
        prior, curves[f"stage2_h{n_hidden}"] = (
            path("stage2", f"h{n_hidden}", "prior.pt"),
            path("stage2", f"h{n_hidden}", "prior_curves.h5"),
        )
        timed(f"pretrain_prior_h{n_hidden}", stages.pretrain_stage2, codes, prior, curves[f"stage2_h{n_hidden}"],
              path(".state", "s2.pt"), threads, n_hidden)  # fmt: skip
    models = {}
    for name, spec in specs.items():
        files = {k: path(name, f) for k, f in [("checkpoint", "model.pt"), ("curves", "curves.h5")]}
        files |= {"evaluation": path(name, "evaluation.h5"), "metrics": path(name, "metrics.csv")}
        state = path(".state", f"train_{name}.pt")
        if spec.prior == "pixels":
            timed(f"train_pixel_rbm_{name}", stages.pixel_rbm_stage, spec, data, files["checkpoint"], files["curves"],
                  state, threads)  # fmt: skip
        else:
            prior = path("stage2", f"h{spec.rbm_hidden}", "prior.pt") if spec.stage2 else None
            timed(f"finetune_{name}", stages.finetune_stage, spec, data, stage1 if spec.stage1 else None, prior,
                  files["checkpoint"], files["curves"], state, threads)  # fmt: skip
        evaluation = (files["checkpoint"], files["evaluation"], files["metrics"])
        timed(f"evaluate_{name}", stages.evaluate_stage, data, *evaluation, threads)
        models[name] = files
    timed("figures", stages.figures_stage, data, curves, models, path("figures"), 1)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", action="append", default=[])
    parser.add_argument("--device")
    parser.add_argument("--outdir")
    parser.add_argument("--data", help="an HDF5 file written by the data stage")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    config = load_config(args.configfile, args.device, args.outdir)
    timings = run(config, args.data, args.threads)
    print(json.dumps({"device": config["device"], "stage_seconds": timings}, indent=2))
    print((Path(config["outdir"]) / "figures" / "results.md").read_text())


if __name__ == "__main__":
    main()
