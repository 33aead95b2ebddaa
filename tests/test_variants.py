"""Model specs (baselines and ablations), the Gaussian baseline's densities and the pixel RBM's best epoch."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
import yaml
from helpers import REPO, validated_config

from binlatent.enumeration import exact_log_likelihood, exact_log_z
from binlatent.image import ImageFormat
from binlatent.models import MODEL_FORMAT, build_model, model_arguments
from binlatent.networks import GaussianEncoder, mlp
from binlatent.paths import Layout
from binlatent.plan import Plan, pretraining_name
from binlatent.plots import plot_ablations
from binlatent.pretrain import fit_rbm
from binlatent.priors import GaussianPrior
from binlatent.rbm import RBM
from binlatent.results import ablation_panels, model_label
from binlatent.training import Checkpointer
from binlatent.variants import (
    ModelSpec,
    ModelSpecError,
    ablation_axis,
    finetune_config,
    model_specs,
)

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())


def specs(models: dict) -> dict:
    return model_specs({**CONFIG, "models": models})


def test_default_models_resolve_to_the_baselines_of_the_table():
    resolved = model_specs(CONFIG)
    assert list(resolved) == ["hybrid", "hybrid_deep", "factorised", "hybrid_scratch", "iwae", "rbm_pixels"]
    assert resolved["hybrid_deep"].prior_layers == (100, 100)
    hybrid, scratch, iwae = resolved["hybrid"], resolved["hybrid_scratch"], resolved["iwae"]
    assert (hybrid.stage1, hybrid.stage2, hybrid.K, hybrid.rbm_hidden) == (True, True, 10, 100)
    assert (scratch.stage1, scratch.stage2, scratch.pretraining) == (False, False, "none")
    assert (iwae.stage1, iwae.estimator, iwae.K) == (False, "reparam", CONFIG["finetune"]["K"])
    assert resolved["factorised"].pretraining == "stage 1" and resolved["rbm_pixels"].rbm_hidden == 200
    # each model fine-tunes at its own step size and weight decay, the tuning sweep's choice in its entry
    for spec in (hybrid, scratch, iwae):
        chosen = CONFIG["models"][spec.name]
        assert (spec.lr, spec.weight_decay) == (chosen["lr"], chosen["weight_decay"])
        assert finetune_config(CONFIG["finetune"], spec)["lr"] == chosen["lr"]
        assert finetune_config(CONFIG["finetune"], spec)["weight_decay"] == chosen["weight_decay"]


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"prior": "gaussian", "estimator": "vimco"}, "Gaussian latents train by reparameterisation"),
        ({"prior": "rbm", "K": 1}, "VIMCO needs K >= 2"),
        ({"prior": "factorised", "rbm_hidden": 50}, "rbm_hidden applies to an RBM prior or pixel RBM"),
        ({"prior": "factorised", "stage2": True}, "stage2 fits an RBM prior"),
        ({"prior": "pixels", "lr": 0.01}, "trained with pixel_rbm.lr"),
        ({"prior": "pixels", "rbm_hidden": [20, 10]}, "an RBM on pixels has one hidden layer"),
        ({"prior": "gaussian", "stage1_init": "rbm_stack"}, "this model has no stage one"),
        ({"prior": "pixels", "decoder": "mirrored"}, "an RBM on pixels has no decoder"),
        ({"prior": "rbm", "decoder": "pixelcnn"}, "decoder must be one of mirrored, autoregressive, not 'pixelcnn'"),
    ],
)
def test_impossible_specs_are_refused_with_the_models_name(raw, message):
    with pytest.raises(ModelSpecError, match=rf"config: models\.m: .*{message}"):
        specs({"m": raw})


def test_ablation_axes_pair_each_variant_with_the_reference_on_one_choice(tmp_path):
    s = specs(
        {
            "hybrid": {"prior": "rbm"},
            "rws": {"prior": "rbm", "estimator": "rws"},
            "k50": {"prior": "rbm", "K": 50},
            "stage1_only": {"prior": "rbm", "stage2": False},
            "two_changes": {"prior": "rbm", "K": 50, "rbm_hidden": 25},
            "own_step": {"prior": "rbm", "lr": 0.01},  # a tuned step size is not an ablated choice
            "factorised": {"prior": "factorised"},
            "deep": {"prior": "rbm", "rbm_hidden": [100, 100]},
            "deep3": {"prior": "rbm", "rbm_hidden": [100, 100, 50]},
            "random_init": {"prior": "rbm", "stage1_init": "random"},
            "autoregressive": {"prior": "rbm", "decoder": "autoregressive"},
        }
    )
    axes = {name: ablation_axis(spec, s["hybrid"]) for name, spec in s.items()}
    assert axes == {"hybrid": None, "rws": "estimator", "k50": "K", "stage1_only": "pretraining",
                    "two_changes": None, "own_step": None, "factorised": None, "deep": "prior_depth",
                    "deep3": "prior_depth", "random_init": "stage1_init", "autoregressive": "decoder"}  # fmt: skip
    assert s["deep3"].prior_layers == (100, 100, 50) and s["deep3"].prior_kind == "deep_rbm"
    assert s["hybrid"].prior_kind == "rbm" and s["hybrid"].pretraining_label.endswith("from an RBM stack")
    assert s["random_init"].pretraining_label == "stages 1+2"
    lls = [-100, -101, -99, -105, -98, -97, -110, -96, -95, -99.5, -94.0]
    metrics = pd.DataFrame({"model": list(s), "test_ll": lls, "test_ll_se": 1.0})
    panels = ablation_panels(metrics, s, "hybrid")
    assert panels["K"] == [("10", -100.0, 1.0), ("50", -99.0, 1.0)]
    assert panels["pretraining"] == [("stage 1", -105.0, 1.0), ("stages 1+2", -100.0, 1.0)]
    assert panels["prior_depth"] == [("1", -100.0, 1.0), ("2", -96.0, 1.0), ("3", -95.0, 1.0)]
    assert panels["stage1_init"] == [("random", -99.5, 1.0), ("rbm_stack", -100.0, 1.0)]
    assert panels["decoder"] == [("mirrored (pixels independent given z)", -100.0, 1.0),
                                 ("autoregressive (gated PixelCNN)", -94.0, 1.0)]  # fmt: skip
    assert set(panels) == {"estimator", "K", "pretraining", "prior_depth", "stage1_init", "decoder"}
    plot_ablations(panels, tmp_path / "ablations.png")
    assert (tmp_path / "ablations.png").stat().st_size > 0
    # the results table names the decoder of a model whose decoder is autoregressive
    row = {"model": "ar", "prior": "rbm", "pretraining": s["autoregressive"].pretraining_label}
    assert model_label(pd.Series({**row, "decoder": "autoregressive"})) == (
        "ar (RBM prior, pretrained: stages 1+2, stage 1 from an RBM stack, decoder: autoregressive (gated PixelCNN))"
    )
    assert model_label(pd.Series({**row, "decoder": "mirrored"})).endswith("from an RBM stack)")


def test_a_models_network_is_resolved_once_with_its_decoder():
    """A model's decoder defaults to network.decoder and may be chosen per model; its spec carries config['network']
    with that decoder, its checkpoint arguments the spec, and the model is built from it."""
    models = {"hybrid": {"prior": "rbm"}, "ar": {"prior": "rbm", "decoder": "autoregressive"},
              "mirrored": {"prior": "rbm", "decoder": "mirrored"}, "pixels": {"prior": "pixels"}}  # fmt: skip
    s = specs(models)
    assert {name: spec.decoder for name, spec in s.items()} == {
        "hybrid": "mirrored", "ar": "autoregressive", "mirrored": "mirrored", "pixels": ""}  # fmt: skip
    ar_run = {**CONFIG, "network": {**CONFIG["network"], "decoder": "autoregressive"}, "models": models}
    assert model_specs(ar_run)["hybrid"].decoder == "autoregressive"  # the default is network.decoder
    assert model_specs(ar_run)["mirrored"].decoder == "mirrored"
    assert s["ar"].network == {**CONFIG["network"], "decoder": "autoregressive"}
    assert s["hybrid"].network == CONFIG["network"] and s["pixels"].network is None
    for spec in s.values():
        assert ModelSpec(**spec.as_dict()) == spec
    small = {
        **s["ar"].as_dict(),
        "network": {**CONFIG["network"], "n_latent": 4, "hidden": [8], "decoder": "autoregressive"},
    }
    arguments = model_arguments(ModelSpec(**small), ImageFormat((4, 4), "binary"))
    assert arguments["spec"]["network"]["decoder"] == "autoregressive" and arguments["format"] == MODEL_FORMAT
    assert type(build_model(arguments).decoder).__name__ == "AutoregressiveDecoder"
    with pytest.raises(ModelSpecError, match="needs them"):
        ModelSpec(**{**s["hybrid"].as_dict(), "network": None})


def test_each_network_and_start_has_its_own_stage_one_named_after_them():
    config = {**CONFIG, "models": {"hybrid": {"prior": "rbm"}, "random": {"prior": "rbm", "stage1_init": "random"},
              "ar": {"prior": "rbm", "decoder": "autoregressive"},
              "ar_random": {"prior": "rbm", "decoder": "autoregressive", "stage1_init": "random"},
              "factorised": {"prior": "factorised"}}}  # fmt: skip
    names = {name: pretraining_name(spec) for name, spec in model_specs(config).items()}
    assert names == {"hybrid": "rbm_stack-mirrored", "random": "random-mirrored", "ar": "rbm_stack-autoregressive",
                     "ar_random": "random-autoregressive", "factorised": "rbm_stack-mirrored"}  # fmt: skip
    results = Layout("results")
    assert results.autoencoder(names["ar"]) == "results/stage1/rbm_stack-autoregressive/autoencoder.pt"
    assert results.prior(names["ar"], "h100") == "results/stage2/rbm_stack-autoregressive/h100/prior.pt"
    assert results.encoder_rbm(1) == "results/stage1/rbm_stack/rbm1/rbm.pt"  # one RBM stack for every decoder
    plan = Plan(validated_config(**config))
    stage_one = {job.name: job.params["network"]["decoder"] for job in plan.of_rule("pretrain_autoencoder")}
    assert stage_one == {f"pretrain_autoencoder_{n}": n.split("-")[1] for n in set(names.values())}
    assert [job.name for job in plan.of_rule("pretrain_encoder_rbm")] == [
        "pretrain_encoder_rbm1",
        "pretrain_encoder_rbm2",
    ]


def test_gaussian_encoder_and_prior_densities_match_torch_distributions(generator):
    encoder = GaussianEncoder(mlp([6, 5, 6], "tanh"))
    x = torch.rand(4, 6, generator=generator)
    z, log_q = encoder.sample(x, 7, generator)
    mean, log_std = encoder(x)
    reference = torch.distributions.Normal(mean.unsqueeze(1), log_std.exp().unsqueeze(1)).log_prob(z).sum(-1)
    assert z.shape == (4, 7, 3) and torch.allclose(log_q, reference, atol=1e-5)
    prior = GaussianPrior(3)
    expected = -0.5 * (z**2).sum(-1) - 1.5 * math.log(2 * math.pi)
    assert torch.allclose(prior.unnormalised_log_prob(z), expected, atol=1e-5)
    z.sum().backward()  # reparameterised: the sample carries the encoder's gradient
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())


@pytest.mark.parametrize("valid_every", [1, 3])
def test_rbm_training_with_a_log_z_keeps_the_best_validation_epoch(valid_every, generator, tmp_path):
    data = (torch.rand(300, 10, generator=generator) < torch.linspace(0.1, 0.9, 10)).float()
    train, valid = data[:200], data[200:]
    rbm = RBM(10, 6)
    cfg = {
        "schedule": [{"method": "cd", "k": 1, "epochs": 4}, {"method": "pcd", "k": 1, "epochs": 4, "lr": 2.0}],
        "batch_size": 20, "lr": 0.1, "lr_decay": 0.0, "initial_momentum": 0.5, "momentum": 0.9,
        "momentum_warmup_epochs": 1, "weight_decay": 0.0, "valid_every": valid_every,
    }  # fmt: skip
    history = fit_rbm(rbm, train, valid, cfg, generator, Checkpointer(tmp_path / "s.pt", 100, None),
                      lambda: exact_log_z(rbm))  # fmt: skip
    scored = [h for h in history if "valid_log_likelihood" in h]
    assert [h["epoch"] for h in scored] == [e for e in range(1, 9) if e % valid_every == 0 or e == 8]
    scores = [h["valid_log_likelihood"] for h in scored]
    for h in scored:
        assert h["valid_log_likelihood"] == pytest.approx(h["valid_exact_log_likelihood"], abs=1e-4)
    assert exact_log_likelihood(rbm, valid) == pytest.approx(max(scores), abs=1e-4)
    if valid_every == 1:
        assert scores.index(max(scores)) < len(scores) - 1  # the large PCD step made the last epochs worse
