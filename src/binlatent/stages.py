"""The workflow's stages, one function per rule of the same name: read the inputs, make one library call,
write the outputs. Each receives only the config sections its rule declares in `params` (`cfg`), so what a
job reads is what Snakemake tracks.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from binlatent import codecs, datasets, inputs, plots, rbm_stack, results, seeds
from binlatent.clustered import use_clustered_errors
from binlatent.evaluate import add_bits_per_dim, evaluate_model, training_settings
from binlatent.finetune import train_on_bound
from binlatent.io import load_checkpoint, read_h5, read_h5_names, save_checkpoint, write_h5, write_text
from binlatent.models import build_model, load_model, model_arguments, save_model
from binlatent.networks import ImageFormat, build_networks
from binlatent.paths import decoder_of
from binlatent.pretrain import binary_codes, fit_rbm, hidden_codes, train_autoencoder
from binlatent.priors import LogZSettings
from binlatent.rate import code_nats
from binlatent.rbm import RBM
from binlatent.training import Checkpointer, history_arrays, select_device, validation_generator
from binlatent.variants import ModelSpec, finetune_config

log = logging.getLogger("binlatent")

# One fixed offset per stage, so that each stage's random stream depends on the seed alone.
STAGE_SEEDS = {"binarize": 0, "stage1": 1, "stage2": 2, "finetune": 3, "evaluate": 4, "figures": 5}
Config = Mapping[str, Any]
CODE_SPLITS = ["z_train", "z_valid", "z_test"]  # the binary codes of every split in a codes HDF5


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


def checkpointer(cfg: Config, state_path: str, **inputs: str | None) -> Checkpointer:
    """The resumable state of a training job whose result depends on `cfg` and the given input files."""
    return Checkpointer(state_path, cfg["checkpoint_every"], cfg, {k: v for k, v in inputs.items() if v})


def binarize(cfg: Config, out_path: str) -> None:
    """Load the configured dataset, split it, binarise binary images with a fixed seed, write one HDF5 file."""
    raw = datasets.load_dataset(cfg)
    arrays = datasets.prepared_splits(raw, cfg["seed"])
    attrs = {"source": raw.source, "image_shape": list(raw.image_shape), "pixels": raw.pixels}
    write_h5(out_path, arrays, cfg, attrs)
    log.info("wrote %s: %s", out_path, {k: v.shape for k, v in arrays.items()})


def pretrain_autoencoder(
    cfg: Config,
    data_path: str,
    ckpt_path: str,
    codes_path: str,
    state_path: str,
    threads: int,
    rbm_paths: Sequence[str] = (),
) -> None:
    """Stage one: train the autoencoder, write its checkpoint and the binary codes of every split; from random
    weights, or unrolled from the RBM stack in `rbm_paths` (bottom first) when stage1.init is rbm_stack (an
    autoregressive decoder takes the stack's downward passes into its hidden layers only: rbm_stack.unroll). The
    networks are cfg['network']'s, whose decoder is the one of the models that start from this stage one."""
    device, generator = setup(cfg, "stage1", threads)
    x = splits(data_path, device)
    inputs.batch_size("stage1.batch_size", cfg["stage1"]["batch_size"], len(x["train"]))
    image = image_format(data_path)
    encoder, decoder = build_networks(image, cfg["network"])
    if rbm_paths:
        rbm_stack.stack_sizes(image, cfg["network"])  # a config the stack cannot start stops here, with its fix
        rbm_stack.unroll(encoder, decoder, [RBM.from_state(load_checkpoint(path)["rbm"]) for path in rbm_paths])
        if cfg["network"].get("decoder") == "autoregressive":
            log.info("RBM stack unrolled into the encoder and the hidden layers of the decoder's MLP; its maps of z "
                     "and its PixelCNN start from random weights")  # fmt: skip
    encoder, decoder = encoder.to(device), decoder.to(device)
    t0 = time.perf_counter()
    resume = checkpointer(cfg, state_path, data=data_path, **{f"rbm_{i}": p for i, p in enumerate(rbm_paths)})
    history = train_autoencoder(encoder, decoder, x["train"], x["valid"], cfg["stage1"], generator, resume)
    seconds = time.perf_counter() - t0
    codes = {}
    for split, xs in x.items():
        codes[f"q_{split}"], codes[f"z_{split}"] = binary_codes(encoder, xs, generator)
    write_h5(codes_path, {**codes, **history_arrays(history, "curves")}, cfg, {"train_seconds": seconds})
    state = {"encoder": encoder.state_dict(), "decoder": decoder.state_dict(), "image": image.as_dict()}
    save_checkpoint(ckpt_path, {**state, "train_seconds": seconds}, cfg)
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
    cfg: Config, data_path: str, ckpt_path: str, curves_path: str, next_path: str, state_path: str, n_hidden: int,
    device: torch.device, generator: torch.Generator,
) -> None:  # fmt: skip
    """Fit an RBM with `n_hidden` hidden units to the binary data of `data_path` with cfg['rbm'], and write its
    checkpoint, curves and its hidden units sampled on every split of that data: the next layer's data."""
    z = layer_data(data_path, device)
    rbm = RBM(z["z_train"].shape[1], n_hidden).to(device)
    t0 = time.perf_counter()
    resume = checkpointer(cfg, state_path, data=data_path)
    history, state = fit_rbm(rbm, z["z_train"], z["z_valid"], cfg["rbm"], generator, resume)
    seconds = time.perf_counter() - t0
    rbm.load_state_dict(state)
    next_codes = {}
    for key, codes in z.items():
        split = key.removeprefix("z_")
        next_codes[f"q_{split}"], next_codes[f"z_{split}"] = hidden_codes(rbm, codes, generator)
    write_h5(curves_path, history_arrays(history, "curves"), cfg, {"train_seconds": seconds})
    write_h5(next_path, next_codes, cfg, {"train_seconds": seconds})
    save_checkpoint(ckpt_path, {"rbm": state, "train_seconds": seconds}, cfg)
    resume.finish()


def pretrain_prior(
    cfg: Config, codes_path: str, ckpt_path: str, curves_path: str, next_path: str, state_path: str, threads: int,
    n_hidden: int,
) -> None:  # fmt: skip
    """Stage two, one layer of the prior: an RBM fitted to the stage-one codes or to the layer below's hidden
    units (`codes_path`), with cfg['rbm'] (the layer's settings of config['prior'])."""
    device, generator = setup(cfg, "stage2", threads)
    inputs.batch_size("prior.batch_size", cfg["rbm"]["batch_size"], inputs.training_set_size(codes_path), True)
    fit_rbm_layer(cfg, codes_path, ckpt_path, curves_path, next_path, state_path, n_hidden, device, generator)


def pretrain_encoder_rbm(
    cfg: Config, data_path: str, ckpt_path: str, curves_path: str, next_path: str, state_path: str, threads: int,
    n_hidden: int,
) -> None:  # fmt: skip
    """One RBM of the stack that starts stage one (stage1.init: rbm_stack): on the pixels (`data_path`, the data
    stage's file) or on the layer below's hidden units, with cfg['rbm'] (config['stage1']['rbm_stack'])."""
    device, generator = setup(cfg, "stage1", threads)
    inputs.batch_size(
        "stage1.rbm_stack.batch_size", cfg["rbm"]["batch_size"], inputs.training_set_size(data_path), True
    )
    fit_rbm_layer(cfg, data_path, ckpt_path, curves_path, next_path, state_path, n_hidden, device, generator)


def train_pixel_rbm(
    cfg: Config, data_path: str, ckpt_path: str, curves_path: str, state_path: str, threads: int
) -> None:
    """The pixel RBM baseline: the stage-two schedule on the images; keeps the best validation epoch."""
    device, generator = setup(cfg, "finetune", threads)
    spec = ModelSpec(**cfg["spec"])
    image = image_format(data_path)
    if image.pixels != "binary":
        raise datasets.DataError(
            f"config: models.{spec.name} is an RBM on the pixels, which needs binary images; the data are "
            f"{image.pixels}: leave it out with --config 'models={{{spec.name}: null}}' or in a config file; 8-bit "
            f"because {datasets.why_stored_8bit(data_path)}"
        )
    x = splits(data_path, device)
    inputs.batch_size("pixel_rbm.batch_size", cfg["pixel_rbm"]["batch_size"], len(x["train"]), True)
    model = build_model(model_arguments(spec, image)).to(device)
    pcfg = cfg["pixel_rbm"]
    t0 = time.perf_counter()
    resume = checkpointer(cfg, state_path, data=data_path)
    history, best = fit_rbm(
        model.rbm,
        x["train"],
        x["valid"],
        pcfg,
        generator,
        resume,
        lambda: (
            model.log_z(x["train"], LogZSettings.per_epoch(pcfg["valid_ais"]), validation_generator(generator)).value
        ),
        f"RBM on pixels ({spec.rbm_hidden} hidden)",
    )
    seconds = time.perf_counter() - t0
    model.rbm.load_state_dict(best)
    write_h5(curves_path, history_arrays(history, "curves"), cfg, {"train_seconds": seconds})
    save_model(ckpt_path, model, model.state_dict(), seconds, cfg)
    resume.finish()


def finetune(
    cfg: Config,
    data_path: str,
    stage1_path: str | None,
    prior_paths: Sequence[str],
    ckpt_path: str,
    curves_path: str,
    state_path: str,
    threads: int,
) -> None:
    """Joint training on the bound, from the pretrained parts the spec names (or from scratch): the stage-one
    autoencoder and the stage-two checkpoints of the prior's layers, bottom first."""
    device, generator = setup(cfg, "finetune", threads)
    spec = ModelSpec(**cfg["spec"])
    if spec.decoder != decoder_of(cfg["network"]):
        raise ValueError(
            f"model {spec.name}: its decoder is {spec.decoder}, its network settings' "
            f"{cfg['network'].get('decoder')}: pass variants.model_network(config['network'], spec)"
        )
    x = splits(data_path, device)
    inputs.batch_size("finetune.batch_size", cfg["finetune"]["batch_size"], len(x["train"]))
    model = build_model(model_arguments(spec, image_format(data_path), cfg["network"]))
    pretrain_seconds = 0.0
    if stage1_path:
        saved = load_checkpoint(stage1_path)
        model.encoder.load_state_dict(saved["encoder"])
        model.decoder.load_state_dict(saved["decoder"])
        pretrain_seconds += saved["train_seconds"]
    if prior_paths:
        layers = [load_checkpoint(path) for path in prior_paths]
        model.prior.load_pretrained(layers)
        pretrain_seconds += sum(layer["train_seconds"] for layer in layers)
    model.to(device)
    with torch.no_grad():
        model.prior.init_from_codes(model.encoder.code_mean(x["train"]))
    t0 = time.perf_counter()
    prior_inputs = {f"prior_{i}": path for i, path in enumerate(prior_paths)}
    resume = checkpointer(cfg, state_path, data=data_path, stage1=stage1_path, **prior_inputs)
    history, best_state = train_on_bound(
        model, x["train"], x["valid"], finetune_config(cfg["finetune"], spec), generator, resume
    )
    seconds = time.perf_counter() - t0
    write_h5(curves_path, history_arrays(history, "curves"), cfg, {"train_seconds": seconds})
    save_model(ckpt_path, model, best_state, seconds + pretrain_seconds, cfg)
    resume.finish()


def evaluate(cfg: Config, data_path: str, ckpt_path: str, out_h5: str, out_csv: str, threads: int) -> None:
    """Test log-likelihood with standard error, AIS/exact log Z, RAISE; HDF5 of traces and a CSV row."""
    device, generator = setup(cfg, "evaluate", threads)
    x = splits(data_path, device)
    model = load_model(ckpt_path, device)
    spec = model.spec
    t0 = time.perf_counter()
    metrics, arrays = evaluate_model(model, x["test"], x["train"], cfg["evaluate"], generator)
    metrics.update(
        model=spec.name,
        prior=spec.prior_kind,
        pretraining=spec.pretraining_label,
        decoder=spec.decoder,
        estimator=spec.estimator,
        train_K=spec.K,
        rbm_hidden="-".join(str(n) for n in spec.prior_layers) or spec.rbm_hidden,
        **training_settings(ckpt_path),
        n_params=sum(p.numel() for p in model.parameters()),
        train_seconds=model.train_seconds,
        eval_seconds=time.perf_counter() - t0,
    )
    if spec.K:  # a model with a code: how much it carries
        metrics["code_nats"], metrics["code_nats_se"] = code_nats(
            model, x["test"], metrics["log_z"], generator=generator
        )
    blocks = datasets.split_blocks(data_path, "test")
    if blocks is not None:
        use_clustered_errors(metrics, arrays, blocks)
    if model.image.pixels == "8bit":
        add_bits_per_dim(metrics, model.image.n_pixels)
    log.info("metrics: %s", metrics)
    write_h5(out_h5, arrays, cfg, dict(metrics))
    frame = pd.DataFrame([metrics])
    write_text(out_csv, frame[["model", *[c for c in frame.columns if c != "model"]]].to_csv(index=False))


REFERENCE_MODEL = "hybrid"


def figures(
    cfg: Config,
    data_path: str,
    pretraining_curves: Mapping[str, str],
    models: Mapping[str, Mapping[str, str]],
    out_dir: str,
    runs: Mapping[int, Mapping[str, Mapping[str, str]]],
    threads: int,
) -> None:
    """Samples, reconstructions, training curves, AIS diagnostic, ablations, the results table and the reference's
    paired margins (standard errors clustered by the test images' blocks where the data record them), into out_dir.

    `pretraining_curves` maps a stage label to its curves HDF5; `models` maps a model name to its
    'checkpoint', 'curves', 'evaluation' and 'metrics' paths (the first training seed's); `runs` maps every
    training seed to its models' 'evaluation' and 'metrics' paths: the table gives the mean over seeds, the margins
    each seed's (binlatent.seeds). Ablations are read against the model named
    REFERENCE_MODEL (else the first): config files merge, so the order of the models is not the user's.
    The directory is built beside out_dir and renamed into place when complete.
    """
    device, generator = setup(cfg, "figures", threads)
    fcfg = cfg["figures"]
    trained = {name: load_model(paths["checkpoint"], device) for name, paths in models.items()}
    image = next(iter(trained.values())).image
    x = splits(data_path, device)
    x_test = x["test"][: fcfg["n_reconstructions"]]
    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    samples, recon = {}, {"test images": (x_test / image.max_value).cpu().numpy()}
    for name, model in trained.items():
        title = plots.decoded_title(name, model.shows)  # E[x|z], or one draw from an autoregressive decoder
        drawn = model.sample(fcfg["n_samples"], fcfg["sample_gibbs_steps"], generator, x["train"], fcfg["sample_ais"])
        samples[title] = drawn.cpu().numpy()
        reconstruction = model.reconstruct(x_test)
        if reconstruction is not None:
            recon[title] = reconstruction.cpu().numpy()
    plots.plot_image_panels(samples, image.shape, int(np.sqrt(fcfg["n_samples"])), tmp / "samples.png")
    plots.plot_reconstructions(recon, image.shape, tmp / "reconstructions.png")
    curves = {label: plots.read_curves(path) for label, path in pretraining_curves.items()}
    curves.update({name: plots.read_curves(paths["curves"]) for name, paths in models.items()})
    plots.plot_training_curves(curves, tmp / "training_curves.png")
    reference = REFERENCE_MODEL if REFERENCE_MODEL in models else next(iter(models))
    plots.plot_ais_evaluation(models[reference]["evaluation"], tmp / "ais_diagnostic.png", reference)
    metrics = seeds.aggregate_seeds(seeds.seed_metrics(runs))
    panels = results.ablation_panels(metrics, {name: model.spec for name, model in trained.items()}, reference)
    if panels:
        plots.plot_ablations(panels, tmp / "ablations.png")
    references = codecs.data_reference_rows(data_path) if image.pixels == "8bit" else None
    results.write_results(metrics, tmp, image.pixels, references)
    if len(models) > 1:
        seeds.write_margins(runs, reference, tmp, datasets.split_blocks(data_path, "test"))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
