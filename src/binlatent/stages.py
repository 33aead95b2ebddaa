"""The workflow's stages as functions of file paths and the config: what each Snakemake script calls."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from binlatent import data as datasets
from binlatent import plots, results
from binlatent.ais import ais_log_z
from binlatent.evaluate import add_bits_per_dim, evaluate_model, evaluate_pixel_rbm
from binlatent.finetune import finetune
from binlatent.io import load_checkpoint, read_h5, read_h5_attrs, save_checkpoint, write_h5, write_text
from binlatent.models import FactorisedPrior, GaussianPrior, HybridModel, ImageFormat, RBMPrior, build_networks
from binlatent.pretrain import pretrain_autoencoder, pretrain_rbm
from binlatent.rbm import EPOCH_ENUMERATION_UNITS, RBM, bernoulli, exact_log_z
from binlatent.training import Checkpointer, history_arrays, select_device
from binlatent.variants import ModelSpec, finetune_config

log = logging.getLogger("binlatent")

# One fixed offset per stage, so that each stage's random stream depends on the seed alone.
STAGE_SEEDS = {"binarize": 0, "stage1": 1, "stage2": 2, "finetune": 3, "evaluate": 4, "figures": 5}


def setup(config: Mapping[str, Any], stage: str, threads: int) -> tuple[torch.device, torch.Generator]:
    """Thread count, device and this stage's seeded generator."""
    torch.set_num_threads(max(1, threads))
    device = select_device(config["device"])
    seed = config["seed"] * 100 + STAGE_SEEDS[stage]
    torch.manual_seed(seed)
    log.info("%s on %s, %d threads, seed %d", stage, device, torch.get_num_threads(), seed)
    return device, torch.Generator(device=device).manual_seed(seed)


def tensors(arrays: Mapping[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v, dtype=torch.float32, device=device) for k, v in arrays.items()}


def image_format(data_path: str) -> ImageFormat:
    """The shape and pixel kind of the images in the data stage's file."""
    return ImageFormat(datasets.image_shape(data_path), datasets.pixel_kind(data_path))


# --- stage 0: data ----------------------------------------------------------------------------


def binarize(config: Mapping[str, Any], out_path: str) -> None:
    """Load the configured dataset, split it, binarise binary images with a fixed seed, write one HDF5 file."""
    raw = datasets.load_dataset(config)
    arrays = datasets.prepared_splits(raw, config["seed"])
    attrs = {"source": raw.source, "image_shape": list(raw.image_shape), "pixels": raw.pixels}
    write_h5(out_path, arrays, config, attrs)
    log.info("wrote %s: %s", out_path, {k: v.shape for k, v in arrays.items()})


# --- stage 1: autoencoder ---------------------------------------------------------------------


def pretrain_stage1(
    config: Mapping[str, Any], data_path: str, ckpt_path: str, codes_path: str, state_path: str, threads: int
) -> None:
    """Stage one: train the autoencoder, write its checkpoint and the binary codes of every split."""
    device, generator = setup(config, "stage1", threads)
    x = tensors(datasets.load_splits(data_path), device)
    image = image_format(data_path)
    encoder, decoder = (m.to(device) for m in build_networks(image, config["network"]))
    t0 = time.perf_counter()
    history = pretrain_autoencoder(
        encoder,
        decoder,
        x["train"],
        x["valid"],
        config["stage1"],
        generator,
        Checkpointer(state_path, config["checkpoint_every"], config),
    )
    seconds = time.perf_counter() - t0
    codes = {}
    with torch.no_grad():
        for split, xs in x.items():
            probs = torch.sigmoid(encoder(xs))
            codes[f"q_{split}"] = probs.cpu().numpy()
            codes[f"z_{split}"] = (torch.rand(probs.shape, generator=generator, device=device) < probs).to(torch.uint8)
    write_h5(codes_path, {**codes, **history_arrays(history, "curves")}, config, {"train_seconds": seconds})
    save_checkpoint(
        ckpt_path,
        {
            "encoder": encoder.state_dict(),
            "decoder": decoder.state_dict(),
            "image": image.as_dict(),
            "train_seconds": seconds,
        },
        config,
    )
    Checkpointer(state_path, 1, None).finish()


# --- stage 2: RBM prior -----------------------------------------------------------------------


def rbm_log_z(rbm: RBM, base_data: torch.Tensor, ais_cfg: Mapping[str, Any], generator) -> float:
    """log Z for a validation score: exact when a layer is small enough, else a short AIS run."""
    if min(rbm.n_visible, rbm.n_hidden) <= EPOCH_ENUMERATION_UNITS:
        return exact_log_z(rbm)
    return ais_log_z(rbm, base_data, ais_cfg["schedule"], ais_cfg["runs"], n_trace=1, generator=generator).log_z


def pretrain_stage2(
    config: Mapping[str, Any],
    codes_path: str,
    ckpt_path: str,
    curves_path: str,
    state_path: str,
    threads: int,
    n_hidden: int,
) -> None:
    """Stage two: fit an RBM prior with `n_hidden` hidden units to the stage-one codes."""
    device, generator = setup(config, "stage2", threads)
    z = tensors(read_h5(codes_path, ["z_train", "z_valid"]), device)
    rbm = RBM(z["z_train"].shape[1], n_hidden).to(device)
    t0 = time.perf_counter()
    checkpointer = Checkpointer(state_path, config["checkpoint_every"], config)
    history, state = pretrain_rbm(rbm, z["z_train"], z["z_valid"], config["prior"], generator, checkpointer)
    seconds = time.perf_counter() - t0
    write_h5(curves_path, history_arrays(history, "curves"), config, {"train_seconds": seconds})
    save_checkpoint(ckpt_path, {"rbm": state, "train_seconds": seconds}, config)
    checkpointer.finish()


# --- baseline: an RBM on the pixels -----------------------------------------------------------


def pixel_rbm_stage(
    config: Mapping[str, Any],
    spec: ModelSpec,
    data_path: str,
    ckpt_path: str,
    curves_path: str,
    state_path: str,
    threads: int,
) -> None:
    """The pixel RBM baseline: the stage-two schedule on the images; keeps the best validation epoch."""
    device, generator = setup(config, "finetune", threads)
    image = image_format(data_path)
    if image.pixels != "binary":
        raise datasets.DataError(
            f"config: models.{spec.name} is an RBM on the pixels, which needs binary images; the data are "
            f"{image.pixels}: leave it out with --config 'models={{{spec.name}: null}}' or in a config file"
        )
    x = tensors(datasets.load_splits(data_path), device)
    pcfg = config["pixel_rbm"]
    rbm = RBM(x["train"].shape[1], spec.rbm_hidden).to(device)
    t0 = time.perf_counter()
    checkpointer = Checkpointer(state_path, config["checkpoint_every"], config)
    history, best = pretrain_rbm(
        rbm,
        x["train"],
        x["valid"],
        pcfg,
        generator,
        checkpointer,
        lambda: rbm_log_z(rbm, x["train"], pcfg["valid_ais"], generator),
        f"RBM on pixels ({spec.rbm_hidden} hidden)",
    )
    seconds = time.perf_counter() - t0
    write_h5(curves_path, history_arrays(history, "curves"), config, {"train_seconds": seconds})
    save_checkpoint(ckpt_path, {"model": best, "spec": spec.as_dict(), "image": image.as_dict(),
                                "train_seconds": seconds}, config)  # fmt: skip
    checkpointer.finish()


# --- stage 3: joint fine-tuning ---------------------------------------------------------------


def build_model(config: Mapping[str, Any], spec: ModelSpec, image: ImageFormat) -> HybridModel | RBM:
    """An untrained model of the spec's kind with the config's sizes, for `image`."""
    if spec.prior == "pixels":
        return RBM(image.n_pixels, spec.rbm_hidden)
    encoder, decoder = build_networks(image, config["network"], gaussian=spec.prior == "gaussian")
    n_latent = config["network"]["n_latent"]
    prior = {
        "rbm": lambda: RBMPrior(RBM(n_latent, spec.rbm_hidden)),
        "factorised": lambda: FactorisedPrior(n_latent),
        "gaussian": lambda: GaussianPrior(n_latent),
    }[spec.prior]()
    return HybridModel(encoder, decoder, prior)


def posterior_codes(model: HybridModel, x: torch.Tensor, generator) -> torch.Tensor:
    """One code z ~ q(z|x) per row of x: the data that fits AIS's base-rate model."""
    with torch.no_grad():
        return model.encoder.sample(x, 1, generator)[0][:, 0]


def finetune_stage(
    config: Mapping[str, Any],
    spec: ModelSpec,
    data_path: str,
    stage1_path: str | None,
    prior_path: str | None,
    ckpt_path: str,
    curves_path: str,
    state_path: str,
    threads: int,
) -> None:
    """Joint training on the bound, from the pretrained parts the spec names (or from scratch)."""
    device, generator = setup(config, "finetune", threads)
    x = tensors(datasets.load_splits(data_path), device)
    image = image_format(data_path)
    model = build_model(config, spec, image)
    pretrain_seconds = 0.0
    for path, load in ((stage1_path, load_stage1), (prior_path, load_prior)):
        if path:
            pretrain_seconds += load(model, load_checkpoint(path))
    model.to(device)
    if isinstance(model.prior, FactorisedPrior):
        with torch.no_grad():  # start from the code marginals of the (pretrained) encoder
            p = torch.sigmoid(model.encoder(x["train"])).mean(0).clamp(1e-3, 1 - 1e-3)
            model.prior.logits.copy_(torch.log(p / (1 - p)))

    def log_z() -> float:
        if not isinstance(model.prior, RBMPrior):
            return 0.0
        codes = posterior_codes(model, x["train"], generator)
        return rbm_log_z(model.prior.rbm, codes, config["finetune"]["valid_ais"], generator)

    t0 = time.perf_counter()
    checkpointer = Checkpointer(state_path, config["checkpoint_every"], config)
    history, best_state = finetune(
        model, x["train"], x["valid"], finetune_config(config, spec), generator, checkpointer, log_z
    )
    seconds = time.perf_counter() - t0
    write_h5(curves_path, history_arrays(history, "curves"), config, {"train_seconds": seconds})
    save_checkpoint(
        ckpt_path,
        {
            "model": best_state,
            "spec": spec.as_dict(),
            "image": image.as_dict(),
            "train_seconds": seconds + pretrain_seconds,
        },
        config,
    )
    checkpointer.finish()


def load_stage1(model: HybridModel, saved: Mapping[str, Any]) -> float:
    """Put the stage-one encoder and decoder into `model`; return their training time."""
    model.encoder.load_state_dict(saved["encoder"])
    model.decoder.load_state_dict(saved["decoder"])
    return saved["train_seconds"]


def load_prior(model: HybridModel, saved: Mapping[str, Any]) -> float:
    """Put the stage-two RBM into `model`'s prior; return its training time."""
    model.prior.rbm.load_state_dict(saved["rbm"])
    return saved["train_seconds"]


def load_model(ckpt_path: str, device: torch.device, config: Mapping[str, Any]) -> tuple[HybridModel | RBM, dict]:
    """A trained model from its checkpoint (its spec says what to build), in eval mode on `device`."""
    saved = load_checkpoint(ckpt_path)
    spec = ModelSpec(**saved["spec"])
    model = build_model(config, spec, ImageFormat.from_dict(saved["image"]))
    model.load_state_dict(saved["model"])
    return model.to(device).eval(), {**saved, "spec": spec}


# --- stage 4: evaluation ----------------------------------------------------------------------


def evaluate_stage(
    config: Mapping[str, Any], data_path: str, ckpt_path: str, out_h5: str, out_csv: str, threads: int
) -> None:
    """Test log-likelihood with standard error, AIS/exact log Z, RAISE; HDF5 of traces and a CSV row."""
    device, generator = setup(config, "evaluate", threads)
    x = tensors(datasets.load_splits(data_path), device)
    model, saved = load_model(ckpt_path, device, config)
    spec: ModelSpec = saved["spec"]
    t0 = time.perf_counter()
    evaluate = evaluate_pixel_rbm if isinstance(model, RBM) else evaluate_model
    metrics, arrays = evaluate(model, x["test"], x["train"], config["evaluate"], generator)
    metrics.update(
        model=spec.name,
        prior=spec.prior,
        pretraining=spec.pretraining,
        estimator=spec.estimator if spec.prior != "pixels" else "",
        train_K=spec.K if spec.prior != "pixels" else 0,
        rbm_hidden=spec.rbm_hidden,
        n_params=sum(p.numel() for p in model.parameters()),
        train_seconds=saved["train_seconds"],
        eval_seconds=time.perf_counter() - t0,
    )
    image = image_format(data_path)
    if image.pixels == "8bit":
        add_bits_per_dim(metrics, image.n_pixels)
    log.info("metrics: %s", metrics)
    write_h5(out_h5, arrays, config, {k: v for k, v in metrics.items()})
    frame = pd.DataFrame([metrics])
    write_text(out_csv, frame[["model", *[c for c in frame.columns if c != "model"]]].to_csv(index=False))


# --- stage 5: figures -------------------------------------------------------------------------

REFERENCE_MODEL = "hybrid"


@torch.no_grad()
def model_samples(model: HybridModel | RBM, n: int, gibbs_steps: int, generator) -> np.ndarray:
    """n samples as pixel probabilities: decoded prior samples, or p(v|h) at the end of a pixel RBM's chain."""
    if isinstance(model, RBM):
        v = model.gibbs(bernoulli(torch.full((n, model.n_visible), 0.5, device=model.W.device), generator),
                        gibbs_steps, generator)  # fmt: skip
        return model.visible_probs(bernoulli(model.hidden_probs(v), generator)).cpu().numpy()
    z = model.prior.sample(n, gibbs_steps, generator)
    return model.decoder.mean(z).cpu().numpy()


def figures_stage(
    config: Mapping[str, Any],
    data_path: str,
    pretraining_curves: Mapping[str, str],
    models: Mapping[str, Mapping[str, str]],
    out_dir: str,
    threads: int,
) -> None:
    """Samples, reconstructions, training curves, AIS diagnostic, ablations and the results table, into out_dir.

    `pretraining_curves` maps a stage label to its curves HDF5; `models` maps a model name to its
    'checkpoint', 'curves', 'evaluation' and 'metrics' paths. Ablations are read against the model named
    REFERENCE_MODEL (else the first): config files merge, so the order of the models is not the user's.
    The directory is built beside out_dir and renamed into place when complete.
    """
    device, generator = setup(config, "figures", threads)
    fcfg = config["figures"]
    image = image_format(data_path)
    x_test = tensors(datasets.load_splits(data_path), device)["test"][: fcfg["n_reconstructions"]]
    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    samples, recon, specs = {}, {"test images": (x_test / image.max_value).cpu().numpy()}, {}
    for name, paths in models.items():
        model, saved = load_model(paths["checkpoint"], device, config)
        specs[name] = saved["spec"]
        samples[name] = model_samples(model, fcfg["n_samples"], fcfg["sample_gibbs_steps"], generator)
        if isinstance(model, HybridModel):
            with torch.no_grad():
                recon[name] = model.decoder.mean(model.encoder.code(x_test)).cpu().numpy()
    plots.plot_image_panels(samples, image.shape, int(np.sqrt(fcfg["n_samples"])), tmp / "samples.png")
    plots.plot_reconstructions(recon, image.shape, tmp / "reconstructions.png")
    curves = {label: strip_prefix(read_h5(path), "curves/") for label, path in pretraining_curves.items()}
    curves.update({name: strip_prefix(read_h5(p["curves"]), "curves/") for name, p in models.items()})
    plots.plot_training_curves(curves, tmp / "training_curves.png")
    reference = REFERENCE_MODEL if REFERENCE_MODEL in models else next(iter(models))
    if specs[reference].prior == "rbm":
        plot_ais(models[reference]["evaluation"], tmp / "ais_diagnostic.png")
    metrics = pd.concat([pd.read_csv(p["metrics"]) for p in models.values()], ignore_index=True)
    panels = results.ablation_panels(metrics, specs, reference)
    if panels:
        plots.plot_ablations(panels, tmp / "ablations.png")
    results.write_results(metrics, config["evaluate"]["K"], tmp, image.pixels)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def plot_ais(evaluation_path: str, path: Path) -> None:
    """The AIS diagnostic of one evaluation: run traces and log Z estimates (exact where enumerated)."""
    evaluation = read_h5(evaluation_path)
    metrics = read_h5_attrs(evaluation_path)
    estimates = {"forward AIS": tuple(evaluation["ais_forward/estimate"][:3])}
    if "exact_log_z" in metrics:
        estimates["exact"] = (metrics["exact_log_z"],) * 3
    plots.plot_ais_diagnostic(
        evaluation["ais_forward/trace_betas"],
        evaluation["ais_forward/trace_log_weights"],
        estimates,
        float(evaluation["ais_forward/estimate"][3]),
        path,
    )


def strip_prefix(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
