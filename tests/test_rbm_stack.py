"""Layer-wise pretraining as jobs: the RBM stack that starts stage one (unrolled exactly into the networks), and
the deep prior's one job per layer, planned by `snakemake -n`."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import torch
import yaml
from conftest import random_rbm
from helpers import planned_jobs, snakemake

from binlatent.checkpoints import load_checkpoint
from binlatent.image import ImageFormat
from binlatent.models import load_model
from binlatent.networks import build_networks
from binlatent.rbm_stack import unroll
from binlatent.variants import RBMStackError, stack_sizes

NETWORK = {"kind": "mlp", "n_latent": 4, "hidden": [6, 5], "activation": "tanh", "decoder": "mirrored"}
IMAGE = ImageFormat((3, 3), "binary")


def test_unrolled_networks_compute_the_rbms_mean_field_passes(generator):
    """Encoder: sigmoid(W^T v + b) up the stack gives q(z|x); decoder: sigmoid(W h + a) down it gives E[x|z]."""
    sizes = stack_sizes(IMAGE, NETWORK)
    assert sizes == [9, 6, 5, 4]
    rbms = [random_rbm(n, m, 1.0, i) for i, (n, m) in enumerate(zip(sizes, sizes[1:], strict=False))]
    encoder, decoder = build_networks(IMAGE, NETWORK)
    unroll(encoder, decoder, rbms)
    x = (torch.rand(7, 9, generator=generator) < 0.5).float()
    up = x
    for rbm in rbms:
        up = rbm.hidden_probs(up)
    z = (torch.rand(7, 4, generator=generator) < 0.5).float()
    down = z
    for rbm in reversed(rbms):
        down = rbm.visible_probs(down)
    with torch.no_grad():
        torch.testing.assert_close(encoder.code_mean(x), up.detach(), atol=1e-5, rtol=0)
        torch.testing.assert_close(decoder.mean(z), down.detach(), atol=1e-5, rtol=0)


def test_an_autoregressive_decoder_takes_the_stacks_hidden_layers_and_keeps_its_own_random_start(generator):
    """The same encoder as the mirrored decoder's; the MLP making the PixelCNN's maps of z computes the RBMs'
    downward passes down to the layer above the pixels; its last layer and the PixelCNN are untouched."""
    network = {
        **NETWORK,
        "decoder": "autoregressive",
        "pixelcnn": {"layers": 1, "channels": 3, "kernel": 3, "border": False},
    }
    sizes = stack_sizes(IMAGE, network)
    rbms = [random_rbm(n, m, 1.0, i) for i, (n, m) in enumerate(zip(sizes, sizes[1:], strict=False))]
    mirrored_encoder, _ = build_networks(IMAGE, NETWORK)
    unroll(mirrored_encoder, build_networks(IMAGE, NETWORK)[1], rbms)
    torch.manual_seed(0)
    encoder, decoder = build_networks(IMAGE, network)
    maps_net = decoder.code_maps.net
    random_start = {k: v.clone() for k, v in decoder.state_dict().items()}
    unroll(encoder, decoder, rbms)
    x = (torch.rand(7, 9, generator=generator) < 0.5).float()
    z = (torch.rand(7, 4, generator=generator) < 0.5).float()
    with torch.no_grad():
        torch.testing.assert_close(encoder.code_mean(x), mirrored_encoder.code_mean(x), atol=1e-6, rtol=0)
        above_pixels = maps_net[:-1](z)  # tanh units: 2 * sigmoid - 1 of the RBMs' downward pass
        expected = rbms[1].visible_probs(rbms[2].visible_probs(z))
        torch.testing.assert_close((above_pixels + 1) / 2, expected, atol=1e-5, rtol=0)
    last = len(maps_net) - 1
    untouched = [k for k in random_start if not k.startswith("code_maps.") or k.startswith(f"code_maps.net.{last}.")]
    assert any(k.startswith("pixelcnn.") for k in untouched) and f"code_maps.net.{last}.weight" in untouched
    for key in untouched:
        torch.testing.assert_close(decoder.state_dict()[key], random_start[key], atol=0, rtol=0)


@pytest.mark.parametrize(
    "image, change",
    [(IMAGE, {"kind": "conv"}), (IMAGE, {"activation": "relu"}), (ImageFormat((3, 3, 3), "8bit"), {})],
)
def test_a_network_the_stack_cannot_start_is_refused_with_the_fix(image, change):
    with pytest.raises(RBMStackError, match="use stage1.init: random"):
        stack_sizes(image, {**NETWORK, **change})


@pytest.mark.workflow
def test_a_two_layer_prior_is_one_job_per_layer_each_writing_its_codes(tmp_path):
    override = tmp_path / "deep.yaml"  # stage one from random weights: its layers in stage2/
    override.write_text(yaml.safe_dump({"stage1": {"init": "random"}, "prior": {"n_hidden": [16, 8]}}))
    jobs = planned_jobs(tmp_path / "out", override)
    assert {j for j in jobs if j.startswith("pretrain_prior")} == {
        "pretrain_prior_random-mirrored_h16",
        "pretrain_prior_random-mirrored_h16-h8",
    }
    result = snakemake("-n", "--configfile", "configs/smoke.yaml", str(override), "--config",
                       f"outdir={tmp_path / 'out'}", "--summary")  # fmt: skip
    planned = result.stdout
    for layer in ("h16", "h16-h8"):
        for file in ("prior.pt", "codes.h5", "prior_curves.h5"):
            assert f"stage2/random-mirrored/{layer}/{file}" in planned


@pytest.mark.workflow
def test_the_rbm_stack_jobs_come_before_stage_one(tmp_path):
    """stage1.init: rbm_stack: RBM 1 on the pixels, RBM 2 on its hidden units, RBM 3 into the code, then stage
    one, in the DAG that snakemake builds."""
    override = tmp_path / "stack.yaml"
    override.write_text(yaml.safe_dump({"stage1": {"init": "rbm_stack"}, "network": {"hidden": [32, 24]}}))
    jobs = planned_jobs(tmp_path / "out", override)
    assert {"pretrain_encoder_rbm1", "pretrain_encoder_rbm2", "pretrain_encoder_rbm3"} <= jobs
    assert {j for j in jobs if j.startswith("pretrain_autoencoder")} == {"pretrain_autoencoder_rbm_stack-mirrored"}
    dag = snakemake("--dag", "--configfile", "configs/smoke.yaml", str(override), "--config",
                    f"outdir={tmp_path / 'out'}").stdout  # fmt: skip
    label = {n: text for n, text in re.findall(r'(\d+)\[label = "([^"]+)"', dag)}
    edges = {(label[a].split("\\n")[0], label[b].split("\\n")[0]) for a, b in re.findall(r"(\d+) -> (\d+)", dag)}
    assert ("pretrain_encoder_rbm", "pretrain_encoder_rbm") in edges
    assert ("pretrain_encoder_rbm", "pretrain_autoencoder") in edges
    assert ("pretrain_autoencoder", "pretrain_prior") in edges


@pytest.mark.workflow
def test_a_model_with_another_decoder_gets_its_own_stage_one_from_the_same_rbm_stack(tmp_path):
    """A model with `decoder: autoregressive` beside the smoke config's mirrored ones: its own stage one and stage
    two (stage1/rbm_stack-autoregressive/, stage2/rbm_stack-autoregressive/h16), started from the one RBM stack;
    built on a few hundred images (about 30 s), each of its checkpoints holds the autoregressive decoder."""
    override = tmp_path / "ar.yaml"
    override.write_text(yaml.safe_dump({
        "models": {"hybrid_ar": {"prior": "rbm", "decoder": "autoregressive"}},
        "data": {"n_train": 300, "n_valid": 50, "n_test": 50},
        "network": {"pixelcnn": {"layers": 1, "channels": 4}},
    }))  # fmt: skip
    out = tmp_path / "out"
    pretraining = {j for j in planned_jobs(out, override) if j.startswith("pretrain")}
    assert pretraining == {
        "pretrain_encoder_rbm1", "pretrain_encoder_rbm2",  # one stack for both decoders
        "pretrain_autoencoder_rbm_stack-mirrored", "pretrain_prior_rbm_stack-mirrored_h16",
        "pretrain_prior_rbm_stack-mirrored_h16-h8", "pretrain_autoencoder_rbm_stack-autoregressive",
        "pretrain_prior_rbm_stack-autoregressive_h16",
    }  # fmt: skip
    target = out / "hybrid_ar" / "metrics.csv"
    result = snakemake(str(target), "--cores", "2", "--configfile", "configs/smoke.yaml", str(override), "--config",
                       f"outdir={out}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    stage1 = load_checkpoint(out / "stage1" / "rbm_stack-autoregressive" / "autoencoder.pt")
    assert any(k.startswith("pixelcnn.") for k in stage1["decoder"])
    assert (out / "stage2" / "rbm_stack-autoregressive" / "h16" / "prior.pt").exists()
    assert not (out / "stage1" / "rbm_stack-mirrored").exists()  # the mirrored models' stage one
    model = load_model(out / "hybrid_ar" / "model.pt")
    assert model.spec.decoder == "autoregressive" and model.model_args["spec"]["network"]["decoder"] == "autoregressive"
    assert type(model.decoder).__name__ == "AutoregressiveDecoder"
    assert pd.read_csv(target)["decoder"].tolist() == ["autoregressive"]  # the results table's label reads it
