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
from binlatent import plots
from binlatent.ais import ais_log_z
from binlatent.evaluate import evaluate_model
from binlatent.finetune import finetune
from binlatent.io import load_checkpoint, read_h5, read_h5_attrs, save_checkpoint, write_h5, write_text
from binlatent.models import FactorisedPrior, HybridModel, RBMPrior, build_networks
from binlatent.pretrain import pretrain_autoencoder, pretrain_rbm
from binlatent.published import published_table
from binlatent.rbm import MAX_ENUMERATION_UNITS, RBM, exact_log_z
from binlatent.training import Checkpointer, history_arrays, select_device

log = logging.getLogger("binlatent")

# One fixed offset per stage, so that each stage's random stream depends on the seed alone.
STAGE_SEEDS = {"binarize": 0, "stage1": 1, "stage2": 2, "finetune": 3, "evaluate": 4, "figures": 5}
MODELS = ("hybrid", "factorised")


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


# --- stage 0: data ----------------------------------------------------------------------------


def binarize(config: Mapping[str, Any], out_path: str) -> None:
    """Load the configured dataset, split it, binarise it with a fixed seed, write one HDF5 file."""
    dcfg = config["data"]
    if config["dataset"] == "digits":
        raw = datasets.digits_dataset(dcfg["n_valid"], dcfg["n_test"], config["seed"])
    elif config["dataset"] == "file":
        if not config.get("data_path"):
            raise datasets.DataError("config: dataset is 'file' but data_path is empty; pass --config data_path=FILE")
        raw = datasets.file_dataset(config["data_path"], dcfg["n_valid"], config["seed"])
    else:
        raise datasets.DataError(f"config: dataset '{config['dataset']}' has no loader in this workflow")
    arrays = datasets.binarised_splits(raw, config["seed"])
    write_h5(out_path, arrays, config, {"source": raw.source, "image_shape": list(raw.image_shape)})
    log.info("wrote %s: %s", out_path, {k: v.shape for k, v in arrays.items()})


# --- stage 1: autoencoder ---------------------------------------------------------------------


def pretrain_stage1(
    config: Mapping[str, Any], data_path: str, ckpt_path: str, codes_path: str, state_path: str, threads: int
) -> None:
    """Stage one: train the autoencoder, write its checkpoint and the binary codes of every split."""
    device, generator = setup(config, "stage1", threads)
    x = tensors(datasets.load_binarised(data_path), device)
    encoder, decoder = (m.to(device) for m in build_networks(x["train"].shape[1], config["network"]))
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
            "n_pixels": x["train"].shape[1],
            "train_seconds": seconds,
        },
        config,
    )
    Checkpointer(state_path, 1, None).finish()


# --- stage 2: RBM prior -----------------------------------------------------------------------


def pretrain_stage2(
    config: Mapping[str, Any], codes_path: str, ckpt_path: str, curves_path: str, state_path: str, threads: int
) -> None:
    """Stage two: fit the RBM prior to the stage-one codes, layer by layer (one layer for now)."""
    device, generator = setup(config, "stage2", threads)
    z = tensors(read_h5(codes_path, ["z_train", "z_valid"]), device)
    pcfg = config["prior"]
    rbm = RBM(z["z_train"].shape[1], pcfg["n_hidden"][0], generator=None).to(device)
    t0 = time.perf_counter()
    history = pretrain_rbm(
        rbm, z["z_train"], z["z_valid"], pcfg, generator, Checkpointer(state_path, config["checkpoint_every"], config)
    )
    seconds = time.perf_counter() - t0
    write_h5(curves_path, history_arrays(history, "curves"), config, {"train_seconds": seconds})
    save_checkpoint(ckpt_path, {"rbm": rbm.state_dict(), "train_seconds": seconds}, config)
    Checkpointer(state_path, 1, None).finish()


# --- stage 3: joint fine-tuning ---------------------------------------------------------------


def build_model(config: Mapping[str, Any], model_name: str, n_pixels: int) -> HybridModel:
    """An untrained model of the named kind with the config's sizes."""
    encoder, decoder = build_networks(n_pixels, config["network"])
    n_latent = config["network"]["n_latent"]
    prior = (
        RBMPrior(RBM(n_latent, config["prior"]["n_hidden"][0])) if model_name == "hybrid" else FactorisedPrior(n_latent)
    )
    return HybridModel(encoder, decoder, prior)


def quick_log_z(model: HybridModel, codes: torch.Tensor, config: Mapping[str, Any], generator) -> float:
    """log Z for the validation bound: exact when small, else a short AIS run; 0 for a factorised prior."""
    if not isinstance(model.prior, RBMPrior):
        return 0.0
    rbm = model.prior.rbm
    if min(rbm.n_visible, rbm.n_hidden) <= MAX_ENUMERATION_UNITS:
        return exact_log_z(rbm)
    vcfg = config["finetune"]["valid_ais"]
    return ais_log_z(rbm, codes, vcfg["schedule"], vcfg["runs"], n_trace=1, generator=generator).log_z


def finetune_stage(
    config: Mapping[str, Any],
    model_name: str,
    data_path: str,
    stage1_path: str,
    codes_path: str,
    prior_path: str | None,
    ckpt_path: str,
    curves_path: str,
    state_path: str,
    threads: int,
) -> None:
    """Joint fine-tuning from the pretrained encoder/decoder (and RBM, for the hybrid)."""
    device, generator = setup(config, "finetune", threads)
    x = tensors(datasets.load_binarised(data_path), device)
    stage1 = load_checkpoint(stage1_path)
    model = build_model(config, model_name, stage1["n_pixels"])
    model.encoder.load_state_dict(stage1["encoder"])
    model.decoder.load_state_dict(stage1["decoder"])
    codes = tensors(read_h5(codes_path, ["z_train"]), device)["z_train"]
    pretrain_seconds = stage1["train_seconds"]
    if prior_path:
        prior = load_checkpoint(prior_path)
        model.prior.rbm.load_state_dict(prior["rbm"])
        pretrain_seconds += prior["train_seconds"]
    else:
        with torch.no_grad():
            p = codes.mean(0).clamp(1e-3, 1 - 1e-3)
            model.prior.logits.copy_(torch.log(p / (1 - p)))
    model.to(device)
    t0 = time.perf_counter()
    history, best_state = finetune(
        model,
        x["train"],
        x["valid"],
        config["finetune"],
        generator,
        Checkpointer(state_path, config["checkpoint_every"], config),
        lambda: quick_log_z(model, codes, config, generator),
    )
    seconds = time.perf_counter() - t0
    write_h5(curves_path, history_arrays(history, "curves"), config, {"train_seconds": seconds})
    save_checkpoint(
        ckpt_path,
        {
            "model": best_state,
            "model_name": model_name,
            "n_pixels": stage1["n_pixels"],
            "train_seconds": seconds + pretrain_seconds,
        },
        config,
    )
    Checkpointer(state_path, 1, None).finish()


def load_model(config: Mapping[str, Any], ckpt_path: str, device: torch.device) -> tuple[HybridModel, dict[str, Any]]:
    saved = load_checkpoint(ckpt_path)
    model = build_model(config, saved["model_name"], saved["n_pixels"])
    model.load_state_dict(saved["model"])
    return model.to(device).eval(), saved


# --- stage 4: evaluation ----------------------------------------------------------------------


def evaluate_stage(
    config: Mapping[str, Any], data_path: str, ckpt_path: str, out_h5: str, out_csv: str, threads: int
) -> None:
    """Test log-likelihood with standard error, AIS/exact log Z, RAISE; HDF5 of traces and a CSV row."""
    device, generator = setup(config, "evaluate", threads)
    x = tensors(datasets.load_binarised(data_path), device)
    model, saved = load_model(config, ckpt_path, device)
    t0 = time.perf_counter()
    metrics, arrays = evaluate_model(model, x["test"], x["train"], config["evaluate"], generator)
    metrics.update(
        model=saved["model_name"],
        n_params=sum(p.numel() for p in model.parameters()),
        train_seconds=saved["train_seconds"],
        eval_seconds=time.perf_counter() - t0,
    )
    log.info("metrics: %s", metrics)
    write_h5(out_h5, arrays, config, {k: v for k, v in metrics.items()})
    frame = pd.DataFrame([metrics])
    write_text(out_csv, frame[["model", *[c for c in frame.columns if c != "model"]]].to_csv(index=False))


# --- stage 5: figures -------------------------------------------------------------------------

RESULT_COLUMNS = [
    "model",
    "test_ll",
    "test_ll_se",
    "log_z",
    "log_z_low",
    "log_z_high",
    "test_ll_conservative",
    "test_ll_conservative_se",
    "exact_log_z",
    "test_ll_exact_log_z",
    "K",
    "n_test",
    "n_params",
    "train_seconds",
    "source",
]


def results_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Our models (measured) followed by published rows, one row per model."""
    ours = metrics.assign(source="this workflow (digits subset)" if "source" not in metrics else metrics["source"])
    table = pd.concat([ours, published_table()], ignore_index=True)
    return table[[c for c in RESULT_COLUMNS if c in table.columns] + [c for c in ("binarisation",) if c in table]]


def _fmt(value: Any, digits: int = 2) -> str:
    return "" if pd.isna(value) else f"{value:.{digits}f}"


def _with_se(row: pd.Series, key: str) -> str:
    se = row.get(f"{key}_se")
    return _fmt(row.get(key)) + ("" if pd.isna(se) else f" ± {se:.2f}")


def format_results(table: pd.DataFrame) -> pd.DataFrame:
    """Human-readable copy: 'value ± se', AIS bands as [low, high], blanks where a value does not apply."""
    rows = []
    for _, r in table.iterrows():
        band = f" [{_fmt(r.get('log_z_low'))}, {_fmt(r.get('log_z_high'))}]" if pd.notna(r.get("log_z_high")) else ""
        rows.append(
            {
                "model": r["model"],
                "test log-lik. (nats)": _with_se(r, "test_ll"),
                "log Z (AIS, ±3σ band)": _fmt(r.get("log_z")) + band,
                "conservative (RAISE)": _with_se(r, "test_ll_conservative"),
                "log Z exact": _fmt(r.get("exact_log_z")),
                "test log-lik., exact log Z": _fmt(r.get("test_ll_exact_log_z")),
                "parameters": "" if pd.isna(r.get("n_params")) else f"{int(r['n_params']):,}",
                "train time (s)": _fmt(r.get("train_seconds"), 0),
                "source": r["source"],
            }
        )
    return pd.DataFrame(rows)


def figures_stage(
    config: Mapping[str, Any],
    data_path: str,
    codes_path: str,
    prior_curves_path: str,
    models: Mapping[str, Mapping[str, str]],
    out_dir: str,
    threads: int,
) -> None:
    """Samples, reconstructions, training curves, AIS diagnostic and the results table, into out_dir.

    `models` maps a model name to its 'checkpoint', 'curves', 'evaluation' and 'metrics' paths.
    The directory is built beside out_dir and renamed into place when complete.
    """
    device, generator = setup(config, "figures", threads)
    fcfg = config["figures"]
    shape = datasets.image_shape(data_path)
    x_test = tensors(datasets.load_binarised(data_path), device)["test"][: fcfg["n_reconstructions"]]
    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    samples, recon = {}, {"test digits": x_test.cpu().numpy()}
    with torch.no_grad():
        for name, paths in models.items():
            model, _ = load_model(config, paths["checkpoint"], device)
            z = model.prior.sample(fcfg["n_samples"], fcfg["sample_gibbs_steps"], generator)
            samples[f"{name} prior: decoded samples"] = torch.sigmoid(model.decoder(z)).cpu().numpy()
            code = (model.encoder(x_test) > 0).float()
            recon[f"{name}"] = torch.sigmoid(model.decoder(code)).cpu().numpy()
    plots.plot_image_panels(samples, shape, int(np.sqrt(fcfg["n_samples"])), tmp / "samples.png")
    plots.plot_reconstructions(recon, shape, tmp / "reconstructions.png")
    curves = {
        "stage1": strip_prefix(read_h5(codes_path, None), "curves/"),
        "stage2": strip_prefix(read_h5(prior_curves_path), "curves/"),
    }
    curves.update({f"finetune_{name}": strip_prefix(read_h5(p["curves"]), "curves/") for name, p in models.items()})
    plots.plot_training_curves(curves, tmp / "training_curves.png")
    if "hybrid" in models:
        evaluation = read_h5(models["hybrid"]["evaluation"])
        metrics = read_h5_attrs(models["hybrid"]["evaluation"])
        estimates = {"forward AIS": tuple(evaluation["ais_forward/estimate"][:3])}
        if "exact_log_z" in metrics:
            estimates["exact"] = (metrics["exact_log_z"],) * 3
        plots.plot_ais_diagnostic(
            evaluation["ais_forward/trace_betas"],
            evaluation["ais_forward/trace_log_weights"],
            estimates,
            float(evaluation["ais_forward/estimate"][3]),
            tmp / "ais_diagnostic.png",
        )
    table = results_table(pd.concat([pd.read_csv(p["metrics"]) for p in models.values()], ignore_index=True))
    table.to_csv(tmp / "results.csv", index=False)
    pretty = format_results(table)
    note = (
        "Test log-likelihood in nats per image (higher is better), importance sampling with "
        f"K = {config['evaluate']['K']} samples from q, minus AIS log Z; ± one standard error over test images. "
        "Published rows were measured on full MNIST, not on this run's data."
    )
    (tmp / "results.md").write_text(pretty.to_markdown(index=False) + "\n\n" + note + "\n")
    plots.plot_table(pretty, tmp / "results.png", "Test log-likelihood (nats per image)")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def strip_prefix(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
