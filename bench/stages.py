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

from binlatent import stages  # noqa: E402
from binlatent.paths import MODEL_FILES, Layout, stack_below, stack_prefixes, stack_top_units  # noqa: E402
from binlatent.pretrain import layer_settings  # noqa: E402
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
    """Every stage in order, laid out as the workflow lays it out; returns the wall time of each, in seconds."""
    results = Layout(config["outdir"])
    timings: dict[str, float] = {}

    def timed(name: str, fn, cfg: dict, *args) -> None:
        t0 = time.perf_counter()
        fn(cfg, *args)
        timings[name] = time.perf_counter() - t0
        logging.info("%s took %.1f s", name, timings[name])

    data = data or results.data(config["dataset"])
    if not Path(data).exists():
        timed("binarize", stages.binarize, config, data)
    specs = model_specs(config)
    if any(spec.stage1 and spec.stage1_init != "random" for spec in specs.values()):
        raise SystemExit("bench/stages.py starts stage one from random weights: run rbm_stack starts with snakemake")
    stage1, codes = results.autoencoder(), results.codes()
    timed("pretrain_autoencoder", stages.pretrain_autoencoder, config, data, stage1, codes,
          results.resume_state("pretrain_autoencoder"), threads)  # fmt: skip
    curves = {"stage1": codes}
    stacks = sorted({stack for spec in specs.values() if spec.stage2 for stack in stack_prefixes(spec.prior_layers)})
    for stack in stacks:  # sorted: each layer after the one below it
        job, below = f"pretrain_prior_{stack}", stack_below(stack)
        layer = {**config, "rbm": layer_settings(config["prior"], stack.count("-"))}
        timed(job, stages.pretrain_prior, layer, results.prior_codes(below) if below else codes, results.prior(stack),
              results.prior_curves(stack), results.prior_codes(stack), results.resume_state(job), threads,
              stack_top_units(stack))  # fmt: skip
        curves[f"stage2_{stack}"] = results.prior_curves(stack)
    models = {}
    for name, spec in specs.items():
        files = {kind: results.model(name, kind) for kind in MODEL_FILES}
        cfg = {**config, "spec": spec.as_dict()}
        if spec.prior == "pixels":
            job = f"train_pixel_rbm_{name}"
            timed(job, stages.train_pixel_rbm, cfg, data, files["checkpoint"], files["curves"],
                  results.resume_state(job), threads)  # fmt: skip
        else:
            job = f"finetune_{name}"
            prior = [results.prior(stack) for stack in stack_prefixes(spec.prior_layers)] if spec.stage2 else []
            timed(job, stages.finetune, cfg, data, stage1 if spec.stage1 else None, prior, files["checkpoint"],
                  files["curves"], results.resume_state(job), threads)  # fmt: skip
        timed(f"evaluate_{name}", stages.evaluate, config, data, files["checkpoint"], files["evaluation"],
              files["metrics"], threads)  # fmt: skip
        models[name] = files
    timed("figures", stages.figures, config, data, curves, models, results.figures(), {config["seed"]: models}, 1)
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
