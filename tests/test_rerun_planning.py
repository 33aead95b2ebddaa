"""A changed config value reruns exactly the jobs that read it, and the jobs downstream of them: for one value
in every top-level section of the config, `snakemake -n` on a finished smoke run plans exactly those jobs."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from helpers import SMOKE_MODELS, planned_jobs

pytestmark = pytest.mark.workflow

SCHEMA_SECTIONS = yaml.safe_load(open("workflow/schemas/config.schema.yaml"))["properties"]
LATENT = ["hybrid", "hybrid_deep", "factorised", "hybrid_scratch", "iwae"]
STACK = {"pretrain_encoder_rbm1", "pretrain_encoder_rbm2"}  # the RBMs that start stage one (stage1.init: rbm_stack)
STAGE1 = "pretrain_autoencoder_rbm_stack-mirrored"
PRIOR_LAYERS = {
    "pretrain_prior_rbm_stack-mirrored_h16",
    "pretrain_prior_rbm_stack-mirrored_h16-h8",
}  # hybrid's, and hybrid_deep's
FINETUNES = {f"finetune_{m}" for m in LATENT}
EVALUATIONS = {f"evaluate_{m}" for m in SMOKE_MODELS}
TRAINING = {*STACK, STAGE1, *PRIOR_LAYERS, *FINETUNES, "train_pixel_rbm_rbm_pixels"}
EVERY_JOB = {"binarize", *TRAINING, *EVALUATIONS, "figures"}
PRETRAINED = ["hybrid", "hybrid_deep", "factorised"]
ON_STAGE1 = {STAGE1, *PRIOR_LAYERS, *{f"finetune_{m}" for m in PRETRAINED}}
WEIGHT_DECAY = {"hybrid": 0.5, "hybrid_deep": 0.5}  # each model's own (the tuning sweep's), else 0.1
TUNING = {f"tune_{m}_lr0.002_wd{WEIGHT_DECAY.get(m, 0.1)}" for m in LATENT}
TUNING |= {"tune_rbm_pixels_lr0.05_wd0.0002", "tuning_table"}  # the smoke config's pixel RBM step

# section -> (a change of one value in it, the jobs that read it or what it made)
CHANGES = {
    "outdir": ({}, EVERY_JOB),  # a fresh output folder (the test points outdir elsewhere)
    "seed": ({"seed": 8}, EVERY_JOB),
    "device": ({"device": "auto"}, EVERY_JOB - {"binarize"}),
    "dataset": ({"dataset": "file"}, EVERY_JOB),  # with data_path set to a file of the same digits
    "data_path": ({"data_path": "elsewhere.npz"}, set()),  # the digits dataset does not read it
    "seeds": ({"seeds": [7, 8]}, EVERY_JOB - {"binarize"}),  # each seed's jobs, under seed<N>/, on the one split
    "tuning": ({"tuning": {"lr": [0.002]}}, TUNING),  # the sweep alone, on the run's data and pretraining
    "checkpoint_every": ({"checkpoint_every": 2}, EVERY_JOB - {"binarize"}),
    "models": ({"models": {"iwae": {"prior": "gaussian", "lr": 0.002}}}, {"finetune_iwae", "evaluate_iwae", "figures"}),
    "data": ({"data": {"n_valid": 150}}, EVERY_JOB),
    "network": (
        {"network": {"hidden": [32]}},
        {*STACK, STAGE1, *PRIOR_LAYERS, *FINETUNES, *{f"evaluate_{m}" for m in LATENT}, "figures"},
    ),
    # stage1.epochs is also the budget of the models without stage one (finetune.budget: network_epochs)
    "stage1": ({"stage1": {"epochs": 2}}, ON_STAGE1 | FINETUNES | {f"evaluate_{m}" for m in LATENT} | {"figures"}),
    "stage1.rbm_stack": (
        {"stage1": {"rbm_stack": {"lr": 0.02}}},
        STACK | ON_STAGE1 | {f"evaluate_{m}" for m in PRETRAINED} | {"figures"},
    ),
    "prior": (
        {"prior": {"batch_size": 50}},
        {
            *PRIOR_LAYERS,
            *{f"{job}_{m}" for job in ("finetune", "evaluate") for m in ("hybrid", "hybrid_deep")},
            "figures",
        },
    ),
    "pixel_rbm": ({"pixel_rbm": {"lr": 0.02}}, {"train_pixel_rbm_rbm_pixels", "evaluate_rbm_pixels", "figures"}),
    "finetune": ({"finetune": {"epochs": 2}}, FINETUNES | {f"evaluate_{m}" for m in LATENT} | {"figures"}),
    "evaluate": ({"evaluate": {"K": 20}}, EVALUATIONS | {"figures"}),
    "figures": ({"figures": {"n_samples": 9}}, {"figures"}),
    "resources": ({"resources": {"default": {"mem_mb": 1500}}}, set()),
}


def test_every_top_level_section_is_covered():
    assert {section.split(".")[0] for section in CHANGES} == set(SCHEMA_SECTIONS)


@pytest.mark.parametrize("section", list(CHANGES))
def test_a_changed_value_reruns_exactly_the_jobs_that_depend_on_it(section, smoke_run, tmp_path):
    change, expected = CHANGES[section]
    out = tmp_path / "elsewhere" if section == "outdir" else smoke_run
    if section == "dataset":
        from binlatent.datasets import load_splits

        splits = load_splits(smoke_run / "data" / "digits.h5")
        np.savez(tmp_path / "digits.npz", x_train=splits["train"], x_test=splits["test"])
        change = {**change, "data_path": str(tmp_path / "digits.npz")}
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump(change))
    assert planned_jobs(out, override) == expected


def test_a_layer_added_on_top_reruns_no_layer_below(smoke_run, tmp_path):
    """hybrid_deep's prior [16, 8] -> [16, 8, 4]: one new pretraining job on top of the finished layers, and that
    model's training and evaluation; the layers below and stage one stay."""
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump({"models": {"hybrid_deep": {"rbm_hidden": [16, 8, 4]}}}))
    expected = {
        "pretrain_prior_rbm_stack-mirrored_h16-h8-h4",
        "finetune_hybrid_deep",
        "evaluate_hybrid_deep",
        "figures",
    }
    assert planned_jobs(smoke_run, override) == expected


def test_a_model_with_another_decoder_adds_its_own_pretraining_and_reruns_no_other_model(smoke_run, tmp_path):
    """A model whose decoder is not network.decoder gets its own stage one and stage two beside the finished ones;
    no other model's job, nor the shared RBM stack, is planned again."""
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump({"models": {"hybrid_ar": {"prior": "rbm", "decoder": "autoregressive"}}}))
    expected = {"pretrain_autoencoder_rbm_stack-autoregressive", "pretrain_prior_rbm_stack-autoregressive_h16",
                "finetune_hybrid_ar", "evaluate_hybrid_ar", "figures"}  # fmt: skip
    assert planned_jobs(smoke_run, override) == expected
