"""Run every stage of the workflow in one process, without Snakemake, and time each stage.

For machines where Snakemake is not installed (a lent GPU box) and for per-stage timings:

    python bench/stages.py --configfile configs/smoke.yaml --device cuda --outdir results/stages

Configs are merged over config.yaml as Snakemake merges them. With --data the data stage is
skipped and that HDF5 file (written by the data stage) is used instead. With --reuse a job whose
outputs all exist under --outdir is skipped (made by an earlier run, here or by the workflow: carry
them to another machine to run only what is missing there).
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
from binlatent.paths import (  # noqa: E402
    MODEL_FILES,
    Layout,
    stack_below,
    stack_prefixes,
    stack_top_units,
    stage1_variant,
    variant_parts,
)
from binlatent.pretrain import layer_settings  # noqa: E402
from binlatent.rbm_stack import hidden_units  # noqa: E402
from binlatent.variants import default_decoder, model_network, model_specs, stage1_variant_of  # noqa: E402

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


def run(config: dict, data: str | None, threads: int, reuse: bool = False) -> dict[str, float]:
    """Every stage in order, laid out as the workflow lays it out; returns the wall time of each, in seconds.
    With `reuse`, a job whose files under the outdir (its inputs and outputs, not its resume state) all exist is
    skipped."""
    results = Layout(config["outdir"])
    timings: dict[str, float] = {}

    def timed(name: str, fn, cfg: dict, *args) -> None:
        files = [a for a in args if isinstance(a, str) and a.startswith(config["outdir"]) and ".state" not in a]
        if reuse and files and all(Path(a).is_file() for a in files):  # figures' folder: never skipped
            logging.info("%s: reusing its outputs", name)
            return
        t0 = time.perf_counter()
        fn(cfg, *args)
        timings[name] = time.perf_counter() - t0
        logging.info("%s took %.1f s", name, timings[name])

    data = data or results.data(config["dataset"])
    if not Path(data).exists():
        timed("binarize", stages.binarize, config, data)
    specs = model_specs(config)
    curves: dict[str, str] = {}
    variants = sorted({stage1_variant_of(spec, config) for spec in specs.values() if spec.stage1})
    stack_paths: list[str] = []  # the RBM stack that starts stage one, trained once: every decoder's starts from it
    for variant in variants:  # stage one from random weights (''), or from the RBM stack; with the run's decoder or not
        init, decoder = variant_parts(variant)
        if init == "rbm_stack" and not stack_paths:
            units = hidden_units(config["network"])
            settings = {**config, "rbm": config["stage1"]["rbm_stack"]}
            for layer, n_hidden in enumerate(units, start=1):
                job, below = f"pretrain_encoder_rbm{layer}", results.encoder_rbm(layer - 1, "codes.h5")
                timed(job, stages.pretrain_encoder_rbm, settings, below if layer > 1 else data,
                      results.encoder_rbm(layer), results.encoder_rbm(layer, "curves.h5"),
                      results.encoder_rbm(layer, "codes.h5"), results.resume_state(job), threads, n_hidden)  # fmt: skip
                stack_paths.append(results.encoder_rbm(layer))
                curves[f"stage1{stage1_variant(init)}_rbm{layer}"] = results.encoder_rbm(layer, "curves.h5")
        rbm_paths = stack_paths if init == "rbm_stack" else []
        job = f"pretrain_autoencoder{variant}"
        network = {**config["network"], "decoder": decoder or default_decoder(config)}
        timed(job, stages.pretrain_autoencoder, {**config, "network": network}, data, results.autoencoder(variant),
              results.codes(variant), results.resume_state(job), threads, rbm_paths)  # fmt: skip
        curves[f"stage1{variant}"] = results.codes(variant)
    stacks = sorted(
        {(stage1_variant_of(spec, config), stack) for spec in specs.values() if spec.stage2
         for stack in stack_prefixes(spec.prior_layers)}
    )  # fmt: skip
    for variant, stack in stacks:  # sorted: each layer after the one below it
        job, below = f"pretrain_prior{variant}_{stack}", stack_below(stack)
        layer = {**config, "rbm": layer_settings(config["prior"], stack.count("-"))}
        codes = results.prior_codes(below, variant) if below else results.codes(variant)
        timed(job, stages.pretrain_prior, layer, codes, results.prior(stack, variant),
              results.prior_curves(stack, variant), results.prior_codes(stack, variant), results.resume_state(job),
              threads, stack_top_units(stack))  # fmt: skip
        curves[f"stage2{variant}_{stack}"] = results.prior_curves(stack, variant)
    models = {}
    for name, spec in specs.items():
        files = {kind: results.model(name, kind) for kind in MODEL_FILES}
        cfg = {**config, "spec": spec.as_dict(), "network": model_network(config["network"], spec)}
        if spec.prior == "pixels":
            job = f"train_pixel_rbm_{name}"
            timed(job, stages.train_pixel_rbm, cfg, data, files["checkpoint"], files["curves"],
                  results.resume_state(job), threads)  # fmt: skip
        else:
            job = f"finetune_{name}"
            variant = stage1_variant_of(spec, config)
            stage1 = results.autoencoder(variant) if spec.stage1 else None
            layers = stack_prefixes(spec.prior_layers) if spec.stage2 else []
            prior = [results.prior(stack, variant) for stack in layers]
            timed(job, stages.finetune, cfg, data, stage1, prior, files["checkpoint"], files["curves"],
                  results.resume_state(job), threads)  # fmt: skip
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
    parser.add_argument("--reuse", action="store_true", help="skip a job whose outputs all exist")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    config = load_config(args.configfile, args.device, args.outdir)
    timings = run(config, args.data, args.threads, args.reuse)
    print(json.dumps({"device": config["device"], "stage_seconds": timings}, indent=2))
    print((Path(config["outdir"]) / "figures" / "results.md").read_text())


if __name__ == "__main__":
    main()
