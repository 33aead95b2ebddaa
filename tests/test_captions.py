"""What the figures say their images show: E[x|z] from a mirrored decoder, one draw x ~ p(x|z) per code from an
autoregressive one, in the panels' titles and in the report's captions, for binary and 8-bit images."""

from __future__ import annotations

from types import SimpleNamespace

import jinja2
import pytest
import torch
from helpers import REPO, SMALL_NETWORK, built_model

from binlatent.image import ImageFormat
from binlatent.models import build_model, model_arguments
from binlatent.plots import decoded_title
from binlatent.variants import ModelSpec

HYBRID = ModelSpec("hybrid", "rbm", True, True, "vimco", 3, 4, 1e-3, network=SMALL_NETWORK)
PIXEL_RBM = ModelSpec("rbm_pixels", "pixels", False, False, "", 0, 4, 0.0)
MEAN, DRAW = "E[x | z]", "one draw x ~ p(x | z) per code"
IMAGES = {"binary": ((4, 4), "digits"), "8bit": ((4, 4, 3), "patches")}  # image shape, a dataset of that kind


def network(decoder: str) -> dict:
    return {
        "kind": "mlp",
        "n_latent": 5,
        "hidden": [8],
        "activation": "tanh",
        "mixture": 2,
        "decoder": decoder,
        "pixelcnn": {"layers": 1, "channels": 4, "kernel": 3, "border": False},
    }


def caption(figure: str, decoder: str, dataset: str, models: dict | None = None) -> str:
    """The report's caption of a figure for a run of `dataset` with `decoder` (and `models`), whitespace
    collapsed."""
    config = {"dataset": dataset, "network": {"decoder": decoder}, "models": models or {},
              "figures": {"n_samples": 64, "sample_gibbs_steps": 10, "n_reconstructions": 8}}  # fmt: skip
    snakemake = SimpleNamespace(wildcards=SimpleNamespace(name=figure), config=config)
    template = jinja2.Template((REPO / "workflow" / "report" / "figures.rst").read_text())
    return " ".join(template.render(snakemake=snakemake).split())


@pytest.mark.parametrize("pixels", IMAGES)
@pytest.mark.parametrize(("decoder", "shown", "not_shown"), [("mirrored", MEAN, DRAW), ("autoregressive", DRAW, MEAN)])
def test_a_panel_is_titled_with_what_its_decoder_shows(pixels, decoder, shown, not_shown, generator):
    torch.manual_seed(0)
    model = built_model(HYBRID, ImageFormat(IMAGES[pixels][0], pixels), network(decoder))
    title = decoded_title("hybrid", model.shows)
    assert title.startswith("hybrid") and shown in title and not_shown not in title
    images = model.sample(3, gibbs_steps=1, generator=generator)
    values = images * model.image.max_value
    assert torch.allclose(values, values.round(), atol=1e-3) == (decoder == "autoregressive")  # a draw: whole values


def test_an_rbm_on_the_pixels_is_titled_with_its_visible_probabilities():
    model = build_model(model_arguments(PIXEL_RBM, ImageFormat((4, 4), "binary")))
    title = decoded_title("rbm_pixels", model.shows)
    assert "p(v = 1 | h)" in title and MEAN not in title and DRAW not in title


@pytest.mark.parametrize("dataset", ["digits", "patches"])
@pytest.mark.parametrize("figure", ["samples", "reconstructions"])
def test_the_report_captions_say_what_the_decoder_shows(figure, dataset):
    mirrored, autoregressive = (caption(figure, decoder, dataset) for decoder in ("mirrored", "autoregressive"))
    assert MEAN in mirrored and DRAW not in mirrored
    assert DRAW in autoregressive and "shows E[x | z]" not in autoregressive and ": E[x | z]" not in autoregressive


@pytest.mark.parametrize("figure", ["samples", "reconstructions"])
def test_a_run_with_both_decoders_has_captions_naming_both(figure):
    """A model whose own decoder is not the run's (configs/ablations.yaml's hybrid_autoregressive): the caption
    says what each decoder's panels show; a model that names the run's decoder changes nothing."""
    models = {"hybrid": {"prior": "rbm"}, "gone": None, "same": {"prior": "rbm", "decoder": "mirrored"}}
    assert caption(figure, "mirrored", "digits", models) == caption(figure, "mirrored", "digits")
    both = caption(figure, "mirrored", "digits", {**models, "ar": {"prior": "rbm", "decoder": "autoregressive"}})
    assert MEAN in both and DRAW in both and "mirrored decoder" in both and "autoregressive decoder" in both
