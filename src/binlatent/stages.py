"""The workflow's stages, one function per rule of the same name (binlatent.plan): read the inputs, make one library
call, write the outputs. Each takes its job's params (`cfg`: the config values its rule reads, recorded in every
artifact it writes), its files by keyword, named as the plan names them, and the threads it may use; `run` calls
the one of a job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from binlatent import codecs, datasets, inputs, margins, plots, rbm_stack, results, seeds, tuning
from binlatent.checkpoints import load_checkpoint, save_checkpoint
from binlatent.datasets.loaders import load_dataset
from binlatent.evaluate import add_bits_per_dim, evaluate_model, training_settings
from binlatent.finetune import train_on_bound
from binlatent.image import ImageFormat
from binlatent.io import read_curves, read_h5, read_h5_names, replaced_folder, write_h5, write_text
from binlatent.models import build_model, load_model, model_arguments, save_model
from binlatent.networks import build_networks
from binlatent.pretrain import binary_codes, fit_rbm, hidden_codes, train_autoencoder
from binlatent.priors import LogZSettings
from binlatent.rate import code_nats
from binlatent.rbm import RBM
from binlatent.training import Checkpointer, history_arrays, select_device, validation_generator
from binlatent.variants import ModelSpec, finetune_config, reference_model, stack_sizes

log = logging.getLogger("binlatent")

# One fixed offset per stage, so that each stage's random stream depends on the seed alone.
STAGE_SEEDS = {"binarize": 0, "stage1": 1, "stage2": 2, "finetune": 3, "evaluate": 4, "figures": 5}
Config = Mapping[str, Any]
CODE_SPLITS = ["z_train", "z_valid", "z_test"]  # the binary codes of every split in a codes HDF5


def run(rule: str, cfg: Config, files: Mapping[str, Any], threads: int, state: str | None = None) -> None:
    """The stage function of `rule` on a job's params, files (by name) and resume state."""
    stage = globals()[rule]
    stage(cfg, threads=threads, **files, **({"state": state} if state else {}))


def setup(cfg: Config, stage: str, threads: int) -> tuple[torch.device, torch.Generator]:
    """Thread count, device and this stage's seeded generator."""
    torch.set_num_threads(max(1, threads))
    device = select_device(cfg["device"])
    seed = cfg["seed"] * 100 + STAGE_SEEDS[stage]
    torch.manual_seed(seed)
    log.info("%s on %s, %d threads, seed %d", stage, device, torch.get_num_threads(), seed)
    return device, torch.Generator(device=device).manual_seed(seed)


def tensors(arrays: Mapping[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v, dtype=torch.float32, device=device) for k, v in arrays.items()}


def splits(data_path: str, device: torch.device) -> dict[str, torch.Tensor]:
    """The data stage's train, valid and test images as float32 tensors on `device`."""
    return tensors(datasets.load_splits(data_path), device)


def image_format(data_path: str) -> ImageFormat:
    """The shape and pixel kind of the images in the data stage's file."""
    return ImageFormat(datasets.image_shape(data_path), datasets.pixel_kind(data_path))


def checkpointer(cfg: Config, state: str, **inputs: str | None) -> Checkpointer:
    """The resumable state of a training job whose result depends on `cfg` and the given input files."""
    return Checkpointer(state, cfg["checkpoint_every"], cfg, {k: v for k, v in inputs.items() if v})


def binarize(cfg: Config, *, data: str, threads: int, user_file: str | None = None) -> None:
    """Load the configured dataset, split it, binarise binary images with a fixed seed, write one HDF5 file (the
    user's file, where the dataset is one, is read through cfg['data_path'])."""
    raw = load_dataset(cfg)
    arrays = datasets.prepared_splits(raw, cfg["seed"])
    attrs = {"source": raw.source, "image_shape": list(raw.image_shape), "pixels": raw.pixels}
    write_h5(data, arrays, cfg, attrs)
    log.info("wrote %s: %s", data, {k: v.shape for k, v in arrays.items()})


def pretrain_autoencoder(
    cfg: Config, *, data: str, checkpoint: str, codes: str, state: str, threads: int, rbms: Sequence[str] = ()
) -> None:
    """Stage one: train the autoencoder of cfg['network'], write its checkpoint and the binary codes of every
    split; from random weights, or unrolled from the RBM stack `rbms` (bottom first) when it starts from one (an
    autoregressive decoder takes the stack's downward passes into its hidden layers only: rbm_stack.unroll)."""
    device, generator = setup(cfg, "stage1", threads)
    x = splits(data, device)
    inputs.batch_size("stage1.batch_size", cfg["stage1"]["batch_size"], len(x["train"]))
    image = image_format(data)
    encoder, decoder = build_networks(image, cfg["network"])
    if rbms:
        stack_sizes(image, cfg["network"])  # a config the stack cannot start stops here, with its fix
        rbm_stack.unroll(encoder, decoder, [RBM.from_state(load_checkpoint(path)["rbm"]) for path in rbms])
        if cfg["network"]["decoder"] == "autoregressive":
            log.info("RBM stack unrolled into the encoder and the hidden layers of the decoder's MLP; its maps of z "
                     "and its PixelCNN start from random weights")  # fmt: skip
    encoder, decoder = encoder.to(device), decoder.to(device)
    t0 = time.perf_counter()
    resume = checkpointer(cfg, state, data=data, **{f"rbm_{i}": p for i, p in enumerate(rbms)})
    history = train_autoencoder(encoder, decoder, x["train"], x["valid"], cfg["stage1"], generator, resume)
    seconds = time.perf_counter() - t0
    arrays = {}
    for split, xs in x.items():
        arrays[f"q_{split}"], arrays[f"z_{split}"] = binary_codes(encoder, xs, generator)
    write_h5(codes, {**arrays, **history_arrays(history, "curves")}, cfg, {"train_seconds": seconds})
    networks = {"encoder": encoder.state_dict(), "decoder": decoder.state_dict(), "image": image.as_dict()}
    save_checkpoint(checkpoint, {**networks, "train_seconds": seconds}, cfg)
    resume.finish()


def layer_data(path: str, device: torch.device) -> dict[str, torch.Tensor]:
    """The binary data of an RBM layer, keyed z_train, z_valid, z_test: a codes HDF5 (stage one's, or a layer's
    hidden units), or the data stage's file (the pixels, binary images only)."""
    if "z_train" in read_h5_names(path):
        return tensors(read_h5(path, CODE_SPLITS), device)
    if datasets.pixel_kind(path) != "binary":
        raise datasets.DataError(f"{path}: an RBM stack on the pixels needs binary images, but these count as 8-bit: "
                                 f"{datasets.why_stored_8bit(path)}; or use stage1.init: random")  # fmt: skip
    return {f"z_{split}": x for split, x in splits(path, device).items()}


def fit_rbm_layer(
    cfg: Config,
    stage: str,
    batch_key: str,
    *,
    data: str,
    checkpoint: str,
    curves: str,
    codes: str,
    state: str,
    threads: int,
) -> None:
    """Fit an RBM with cfg['n_hidden'] hidden units to the binary data of `data` with cfg['rbm'] (whose batch size
    is the config key `batch_key`), and write its checkpoint, curves and its hidden units sampled on every split of
    that data: the next layer's data."""
    device, generator = setup(cfg, stage, threads)
    z = layer_data(data, device)
    inputs.batch_size(batch_key, cfg["rbm"]["batch_size"], len(z["z_train"]), whole_batches=True)
    rbm = RBM(z["z_train"].shape[1], cfg["n_hidden"]).to(device)
    t0 = time.perf_counter()
    resume = checkpointer(cfg, state, data=data)
    history = fit_rbm(rbm, z["z_train"], z["z_valid"], cfg["rbm"], generator, resume)
    seconds = time.perf_counter() - t0
    next_codes = {}
    for key, layer_codes in z.items():
        split = key.removeprefix("z_")
        next_codes[f"q_{split}"], next_codes[f"z_{split}"] = hidden_codes(rbm, layer_codes, generator)
    write_h5(curves, history_arrays(history, "curves"), cfg, {"train_seconds": seconds})
    write_h5(codes, next_codes, cfg, {"train_seconds": seconds})
    save_checkpoint(checkpoint, {"rbm": rbm.state_dict(), "train_seconds": seconds}, cfg)
    resume.finish()


def pretrain_prior(cfg: Config, **files: Any) -> None:
    """Stage two, one layer of the prior: an RBM fitted to the stage-one codes or to the layer below's hidden
    units, with cfg['rbm'] (the layer's settings of config['prior'])."""
    fit_rbm_layer(cfg, "stage2", "prior.batch_size", **files)


def pretrain_encoder_rbm(cfg: Config, **files: Any) -> None:
    """One RBM of the stack that starts stage one (stage1.init: rbm_stack): on the pixels (the data stage's file)
    or on the layer below's hidden units, with cfg['rbm'] (config['stage1']['rbm_stack'])."""
    fit_rbm_layer(cfg, "stage1", "stage1.rbm_stack.batch_size", **files)


def train_pixel_rbm(cfg: Config, *, data: str, checkpoint: str, curves: str, state: str, threads: int) -> None:
    """The pixel RBM baseline: the stage-two schedule on the images; keeps the best validation epoch."""
    device, generator = setup(cfg, "finetune", threads)
    spec = ModelSpec(**cfg["spec"])
    image = image_format(data)
    if image.pixels != "binary":
        raise datasets.DataError(
            f"config: models.{spec.name} is an RBM on the pixels, which needs binary images; the data are "
            f"{image.pixels}: leave it out with --config 'models={{{spec.name}: null}}' or in a config file; 8-bit "
            f"because {datasets.why_stored_8bit(data)}"
        )
    x = splits(data, device)
    inputs.batch_size("pixel_rbm.batch_size", cfg["pixel_rbm"]["batch_size"], len(x["train"]), True)
    model = build_model(model_arguments(spec, image)).to(device)
    pcfg = cfg["pixel_rbm"]
    t0 = time.perf_counter()
    resume = checkpointer(cfg, state, data=data)

    def log_z() -> float:
        return model.log_z(x["train"], LogZSettings.per_epoch(pcfg["valid_ais"]), validation_generator(generator)).value

    history = fit_rbm(model.rbm, x["train"], x["valid"], pcfg, generator, resume, log_z,
                      f"RBM on pixels ({spec.rbm_hidden} hidden)")  # fmt: skip
    seconds = time.perf_counter() - t0
    write_h5(curves, history_arrays(history, "curves"), cfg, {"train_seconds": seconds})
    save_model(checkpoint, model, model.state_dict(), seconds, cfg)
    resume.finish()


def finetune(
    cfg: Config,
    *,
    data: str,
    checkpoint: str,
    curves: str,
    state: str,
    threads: int,
    stage1: str | None = None,
    prior: Sequence[str] = (),
) -> None:
    """Joint training on the bound, from the pretrained parts the spec names (or from scratch): the stage-one
    autoencoder and the stage-two checkpoints of the prior's layers, bottom first."""
    device, generator = setup(cfg, "finetune", threads)
    spec = ModelSpec(**cfg["spec"])
    x = splits(data, device)
    inputs.batch_size("finetune.batch_size", cfg["finetune"]["batch_size"], len(x["train"]))
    model = build_model(model_arguments(spec, image_format(data)))
    pretrain_seconds = 0.0
    if stage1:
        saved = load_checkpoint(stage1)
        model.encoder.load_state_dict(saved["encoder"])
        model.decoder.load_state_dict(saved["decoder"])
        pretrain_seconds += saved["train_seconds"]
    if prior:
        layers = [load_checkpoint(path) for path in prior]
        model.prior.load_pretrained(layers)
        pretrain_seconds += sum(layer["train_seconds"] for layer in layers)
    model.to(device)
    with torch.no_grad():
        model.prior.init_from_codes(model.encoder.code_mean(x["train"]))
    t0 = time.perf_counter()
    prior_inputs = {f"prior_{i}": path for i, path in enumerate(prior)}
    resume = checkpointer(cfg, state, data=data, stage1=stage1, **prior_inputs)
    history = train_on_bound(model, x["train"], x["valid"], finetune_config(cfg["finetune"], spec), generator, resume)
    seconds = time.perf_counter() - t0
    write_h5(curves, history_arrays(history, "curves"), cfg, {"train_seconds": seconds})
    save_model(checkpoint, model, model.state_dict(), seconds + pretrain_seconds, cfg)
    resume.finish()


# The tuning sweep's jobs are fine-tunings, and trainings of the RBM on pixels, at one point of the grid each.
tune = finetune
tune_pixel_rbm = train_pixel_rbm


def evaluate(cfg: Config, *, data: str, checkpoint: str, evaluation: str, metrics: str, threads: int) -> None:
    """Test log-likelihood with standard error, AIS/exact log Z, RAISE; HDF5 of traces and a CSV row."""
    device, generator = setup(cfg, "evaluate", threads)
    x = splits(data, device)
    model = load_model(checkpoint, device)
    spec = model.spec
    blocks = datasets.split_blocks(data, "test")
    t0 = time.perf_counter()
    row, arrays = evaluate_model(model, x["test"], x["train"], cfg["evaluate"], generator, blocks)
    row.update(
        model=spec.name,
        prior=spec.prior_kind,
        pretraining=spec.pretraining_label,
        decoder=spec.decoder,
        estimator=spec.estimator,
        train_K=spec.K,
        rbm_hidden="-".join(str(n) for n in spec.prior_layers) or spec.rbm_hidden,
        **training_settings(checkpoint),
        n_params=sum(p.numel() for p in model.parameters()),
        train_seconds=model.train_seconds,
        eval_seconds=time.perf_counter() - t0,
    )
    if spec.K:  # a model with a code: how much it carries
        row["code_nats"], row["code_nats_se"] = code_nats(
            model, x["test"], row["log_z"], generator=generator, blocks=blocks
        )
    if model.image.pixels == "8bit":
        add_bits_per_dim(row, model.image.n_pixels)
    log.info("metrics: %s", row)
    write_h5(evaluation, arrays, cfg, dict(row))
    frame = pd.DataFrame([row])
    write_text(metrics, frame[["model", *[c for c in frame.columns if c != "model"]]].to_csv(index=False))


def figures(
    cfg: Config,
    *,
    data: str,
    checkpoints: Sequence[str],
    curves: Sequence[str],
    evaluations: Sequence[str],
    metrics: Sequence[str],
    pretraining_curves: Sequence[str],
    figures: str,
    threads: int,
) -> None:
    """Samples, reconstructions, training curves, AIS diagnostic, ablations, the results table and the reference's
    paired margins (standard errors clustered by the test images' blocks where the data record them), in the folder
    `figures`: built beside it and swapped in only when complete, so that a failure leaves the previous one.

    cfg['models'] names the models, in the order of `checkpoints` and `curves` (the first training seed's);
    `evaluations` and `metrics` hold every training seed's (cfg['seeds']) of every model, seed by seed: the table
    gives the mean over seeds, the margins each seed's (binlatent.seeds, binlatent.margins). cfg['pretraining']
    labels `pretraining_curves`. Ablations and margins are read against binlatent.variants.reference_model."""
    device, generator = setup(cfg, "figures", threads)
    with replaced_folder(figures) as out:
        fcfg, names = cfg["figures"], list(cfg["models"])
        trained = {name: load_model(path, device) for name, path in zip(names, checkpoints, strict=True)}
        runs = {
            seed: {name: {"evaluation": evaluations[i * len(names) + j], "metrics": metrics[i * len(names) + j]}
                   for j, name in enumerate(names)}
            for i, seed in enumerate(cfg["seeds"])
        }  # fmt: skip
        image = next(iter(trained.values())).image
        x = splits(data, device)
        x_test = x["test"][: fcfg["n_reconstructions"]]
        drawn, recon = {}, {"test images": (x_test / image.max_value).cpu().numpy()}
        for name, model in trained.items():
            title = plots.decoded_title(name, model.shows)  # E[x|z], or one draw from an autoregressive decoder
            drawn[title] = model.sample(
                fcfg["n_samples"], fcfg["sample_gibbs_steps"], generator, x["train"], fcfg["sample_ais"]
            ).cpu().numpy()  # fmt: skip
            reconstruction = model.reconstruct(x_test)
            if reconstruction is not None:
                recon[title] = reconstruction.cpu().numpy()
        plots.plot_image_panels(drawn, image.shape, int(np.sqrt(fcfg["n_samples"])), out / "samples.png")
        plots.plot_reconstructions(recon, image.shape, out / "reconstructions.png")
        labelled = [*zip(cfg["pretraining"], pretraining_curves, strict=True), *zip(names, curves, strict=True)]
        stage_curves = {label: read_curves(path) for label, path in labelled}
        plots.plot_training_curves(stage_curves, out / "training_curves.png")
        reference = reference_model(names)
        plots.plot_ais_evaluation(runs[cfg["seeds"][0]][reference]["evaluation"], out / "ais_diagnostic.png", reference)
        table = seeds.aggregate_seeds(seeds.seed_metrics(runs))
        panels = results.ablation_panels(table, {name: model.spec for name, model in trained.items()}, reference)
        if panels:
            plots.plot_ablations(panels, out / "ablations.png")
        references = codecs.data_reference_rows(data) if image.pixels == "8bit" else None
        results.write_results(
            table, out / "results.csv", out / "results.md", out / "results.png", image.pixels, references
        )
        if len(names) > 1:
            blocks = datasets.split_blocks(data, "test")
            margins.write_margins(runs, reference, out / "margins.csv", out / "margins.md", blocks)


def tuning_table(
    cfg: Config, *, curves: Sequence[str], table: str, markdown: str, figure: str, chosen: str, threads: int
) -> None:
    """The sweep's table of each grid point's best validation score, each model's choice, its figure, and the values
    to paste into config.yaml (in the log too)."""
    grid = tuning.write_tuning(cfg["points"], curves, cfg["models"], table, markdown, chosen)
    plots.plot_tuning(grid, figure)
    with open(chosen) as f:
        log.info("chosen values, for config.yaml:\n%s", f.read())
