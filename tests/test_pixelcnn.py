"""The autoregressive decoder: causal masking checked with gradients, probabilities summed over every image of a tiny
size, conditioning on the code, exact windowed sampling, checkpoints that rebuild it, and the fast kernel held to the
plain network, gradients included."""

from __future__ import annotations

import itertools

import pytest
import torch
from helpers import SMALL_NETWORK, built_model

from binlatent import load_model, pixelcnn
from binlatent.image import ImageFormat
from binlatent.likelihoods import BernoulliPixels, DiscretisedLogisticMixture
from binlatent.models import save_model
from binlatent.networks import build_networks
from binlatent.pixelcnn import AutoregressiveDecoder, GatedPixelCNN
from binlatent.variants import ModelSpec


def network(kind: str = "mlp", layers: int = 2, channels: int = 6, border: bool = False) -> dict:
    return {
        "kind": kind,
        "n_latent": 5,
        "hidden": [12],
        "activation": "tanh",
        "channels": [4, 8],
        "res_blocks": 1,
        "mixture": 2,
        "decoder": "autoregressive",
        "pixelcnn": {"layers": layers, "channels": channels, "kernel": 3, "border": border},
    }


def reads(pixelcnn: GatedPixelCNN, height: int, width: int, generator) -> dict[tuple[int, int], set[tuple[int, int]]]:
    """Per output pixel, the input pixels (any channel) with a nonzero gradient of its outputs."""
    images = torch.randn(1, 3, height, width, generator=generator, dtype=torch.float64, requires_grad=True)
    maps = torch.randn(1, 1, 2, height, width, generator=generator, dtype=torch.float64)
    out = pixelcnn.double()(images, maps)
    found = {}
    for r, c in itertools.product(range(height), range(width)):
        (grad,) = torch.autograd.grad(out[0, :, r, c].sum(), images, retain_graph=True)
        found[r, c] = {(i, j) for i, j in zip(*torch.nonzero(grad[0].abs().sum(0)).T.tolist(), strict=True)}
    return found


@pytest.mark.parametrize("border", [False, True])
@pytest.mark.parametrize("layers", [1, 2, 6])
def test_each_output_reads_exactly_the_earlier_pixels_in_its_reach(layers, border, generator):
    torch.manual_seed(0)
    pixelcnn = GatedPixelCNN(3, layers, 5, 3, 2, 4, border)
    height, width, reach = 5, 6, pixelcnn.reach
    for (r, c), found in reads(pixelcnn, height, width, generator).items():
        above = {(i, j) for i in range(max(0, r - reach), r) for j in range(width) if abs(j - c) < reach}
        left = {(r, j) for j in range(max(0, c - reach), c)}
        assert found == above | left, (r, c)
        if layers == 6:  # deep enough to reach the whole image: every earlier pixel, no blind spot
            assert found == {(i, j) for i in range(height) for j in range(width) if (i, j) < (r, c)}


def test_a_channels_coupled_mean_reads_only_the_earlier_channels(generator):
    mix = DiscretisedLogisticMixture((1, 1, 3), n_mix=2)
    means, coeffs = torch.randn(1, 3, 2, generator=generator), torch.randn(1, 3, 2, generator=generator)
    given = torch.randn(1, 3, 2, generator=generator, requires_grad=True)
    coupled = mix._coupled_means(means, coeffs, given)
    for c in range(3):
        (grad,) = torch.autograd.grad(coupled[:, c].sum(), given, retain_graph=True, materialize_grads=True)
        assert torch.nonzero(grad.abs().sum(-1)[0]).flatten().tolist() == list(range(c))


def all_images(n_values: int, n_dims: int) -> torch.Tensor:
    """Every image of n_dims values in 0..n_values-1, (n_values ** n_dims, n_dims), float64."""
    return torch.cartesian_prod(*[torch.arange(n_values, dtype=torch.float64)] * n_dims).reshape(-1, n_dims)


@pytest.mark.parametrize("border", [False, True])
@pytest.mark.parametrize(("shape", "pixels", "n_values"), [((3, 3), "binary", 2), ((1, 2, 1), "8bit", 256)])
def test_probabilities_over_every_image_sum_to_one(shape, pixels, n_values, border, generator):
    torch.manual_seed(1)
    image = ImageFormat(shape, pixels)
    decoder = build_networks(image, network(border=border))[1].double()
    x = all_images(n_values, image.n_pixels)  # binary 3x3: 512 images; 8-bit 1x2 grey: 65,536
    for z in (torch.rand(1, 1, 5, generator=generator, dtype=torch.float64) < 0.5).double().unbind():
        total = torch.logsumexp(decoder.log_prob(x, z.expand(len(x), 1, 5)), 0)
        torch.testing.assert_close(total, torch.zeros(1, dtype=torch.float64), atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_the_code_changes_every_pixels_distribution(kind, generator):
    torch.manual_seed(2)
    image = ImageFormat((4, 4, 3), "8bit")
    decoder = build_networks(image, network(kind))[1]
    x = torch.randint(0, 256, (1, image.n_pixels), generator=generator).float()
    z = torch.tensor([[[0.0] * 5, [1.0] * 5]])  # two codes for the one image: (1, 2, 5)
    params = decoder.params(x, z).reshape(2, 16, -1)  # per code and pixel position
    assert (params[0] - params[1]).abs().amax(-1).min() > 1e-4


def test_log_prob_scores_each_image_under_each_of_its_codes(generator):
    torch.manual_seed(3)
    image = ImageFormat((4, 4), "binary")
    decoder = build_networks(image, network())[1]
    x = (torch.rand(3, 16, generator=generator) < 0.5).float()
    z = (torch.rand(3, 2, 5, generator=generator) < 0.5).float()
    one_at_a_time = torch.stack([decoder.log_prob(x[[i]], z[i, [k]].unsqueeze(0))[0, 0] for i in range(3)
                                 for k in range(2)]).reshape(3, 2)  # fmt: skip
    torch.testing.assert_close(decoder.log_prob(x, z), one_at_a_time)


def reference_sample(decoder: AutoregressiveDecoder, z: torch.Tensor, generator) -> torch.Tensor:
    """Ancestral sampling that runs the whole network on the whole canvas at every pixel."""
    height, width = decoder.side
    canvas = torch.zeros(len(z), decoder.channels, height, width)
    maps = decoder.code_maps(z).unsqueeze(1)
    for r, c in itertools.product(range(height), range(width)):
        params = decoder.pixelcnn(canvas, maps)[:, :, r, c]
        canvas[:, :, r, c] = decoder.pixel.sample(params, generator) * (2 / decoder.max_value) - 1
    return ((canvas + 1) * (decoder.max_value / 2)).round().permute(0, 2, 3, 1).reshape(len(z), -1)


@pytest.mark.parametrize("border", [False, True])
@pytest.mark.parametrize(("shape", "pixels"), [((5, 6), "binary"), ((5, 6, 3), "8bit")])
def test_windowed_sampling_draws_what_the_whole_network_draws(shape, pixels, border):
    torch.manual_seed(4)
    decoder = build_networks(ImageFormat(shape, pixels), network(layers=1, border=border))[1]
    z = (torch.rand(3, 5) < 0.5).float()
    ours = decoder.sample(z, torch.Generator().manual_seed(5))
    torch.testing.assert_close(ours, reference_sample(decoder, z, torch.Generator().manual_seed(5)))
    assert set(ours.unique().tolist()) <= set(range(256 if pixels == "8bit" else 2))


def test_the_border_reaches_the_first_rows_and_columns_and_comes_from_the_code(generator):
    """The border's colours (a function of the code's maps) reach exactly the outputs within the stacks' reach of
    the top row or the left column, and give each code of an image its own first pixels' distributions."""
    torch.manual_seed(5)
    pixelcnn = GatedPixelCNN(3, 2, 5, 3, 2, 4, border=True).double()
    height, width, reach = 7, 8, pixelcnn.reach
    images = torch.randn(1, 3, height, width, generator=generator, dtype=torch.float64)
    maps = torch.randn(1, 2, 2, height, width, generator=generator, dtype=torch.float64)  # two codes
    out = pixelcnn(images, maps)
    for r, c in itertools.product(range(height), range(width)):
        (grad,) = torch.autograd.grad(out[0, :, r, c].sum(), pixelcnn.border.weight, retain_graph=True)
        assert (grad.abs().sum() > 0) == (r < reach or c < reach), (r, c)
    assert (out[0, :, 0, 0] - out[1, :, 0, 0]).abs().max() > 1e-6  # the first pixel differs between the codes
    plain = GatedPixelCNN(3, 2, 5, 3, 2, 4).double()
    assert sum(p.numel() for p in pixelcnn.parameters()) - sum(p.numel() for p in plain.parameters()) == 2 * 3 + 3


def test_pixel_samples_follow_the_discretised_mixture(generator):
    mix = DiscretisedLogisticMixture((1, 1, 1), n_mix=2)
    params = torch.tensor([[0.3, -0.5, 0.0, 0.4, -2.5, -3.0]])  # logits, means, log scales: (1, 6) as (1, 3, 2)
    params = params.reshape(1, 2, 3).transpose(1, 2).reshape(1, 6)
    draws = mix.sample(params.expand(40000, 6), generator)
    frequency = torch.bincount(draws.long().flatten(), minlength=256).double() / len(draws)
    exact = mix.log_prob(params.double(), torch.arange(256, dtype=torch.float64).reshape(256, 1)).exp()
    assert 0.5 * (frequency - exact).abs().sum() < 0.03  # total variation, sampling error about 0.01


def test_colour_samples_couple_each_channel_to_the_earlier_ones(generator):
    mix = DiscretisedLogisticMixture((1, 1, 3), n_mix=1)
    raw = torch.tensor([0.5, -0.4, 0.3])  # coupling of (green, red), (blue, red), (blue, green) before tanh
    params = torch.tensor([[0.0, 0.0, 0.1, -0.1, -1.5, -3.0, -3.0, *raw]])  # logit, means, log scales, coupling
    values = mix.sample(params.expand(20000, 10), generator) / 127.5 - 1  # (n, 3) on the [-1, 1] scale
    ones = torch.ones(len(values), 1)
    green_on_red = torch.linalg.lstsq(torch.cat([ones, values[:, :1]], 1), values[:, 1:2]).solution.flatten()
    blue_on_both = torch.linalg.lstsq(torch.cat([ones, values[:, :2]], 1), values[:, 2:]).solution.flatten()
    torch.testing.assert_close(green_on_red[1:], torch.tanh(raw[:1]), atol=0.01, rtol=0)
    torch.testing.assert_close(blue_on_both[1:], torch.tanh(raw[1:]), atol=0.03, rtol=0)  # about 4 standard errors


def test_bernoulli_pixel_samples_have_their_probabilities(generator):
    logits = torch.tensor([-2.0, 0.0, 1.5]).expand(40000, 3)
    draws = BernoulliPixels((1, 3)).sample(logits, generator)
    torch.testing.assert_close(draws.mean(0), torch.sigmoid(logits[0]), atol=0.01, rtol=0)


@pytest.mark.parametrize("border", [False, True])
def test_a_checkpoint_rebuilds_the_autoregressive_decoder(tmp_path, border, generator):
    torch.manual_seed(6)
    spec = ModelSpec("hybrid", "rbm", True, True, "vimco", 3, 4, 1e-3, network=SMALL_NETWORK)
    image = ImageFormat((4, 4), "binary")
    model = built_model(spec, image, network(border=border))
    save_model(tmp_path / "model.pt", model, model.state_dict(), 1.0, {"seed": 1})
    torch.manual_seed(7)
    loaded = load_model(tmp_path / "model.pt")
    assert isinstance(loaded.decoder, AutoregressiveDecoder)
    x = (torch.rand(2, 16, generator=generator) < 0.5).float()
    z = (torch.rand(2, 3, 5, generator=generator) < 0.5).float()
    torch.testing.assert_close(loaded.decoder.log_prob(x, z), model.decoder.log_prob(x, z))
    samples = loaded.sample(3, gibbs_steps=2, generator=generator)
    assert samples.shape == (3, 16) and set(samples.unique().tolist()) <= {0.0, 1.0}


def random_decoder(shape: tuple[int, ...], pixels: str, layers: int, border: bool, dtype=torch.float64):
    """An autoregressive decoder whose every weight is drawn at a scale that makes the gates and the mixture busy."""
    kind = "conv" if pixels == "8bit" else "mlp"
    decoder = build_networks(ImageFormat(shape, pixels), network(kind, layers=layers, border=border))[1].to(dtype)
    with torch.no_grad():
        for p in decoder.parameters():
            p.normal_(0, 0.5)
    return decoder


def images_and_codes(shape, pixels, batch, k, generator, dtype=torch.float64):
    n_pixels = ImageFormat(shape, pixels).n_pixels
    if pixels == "binary":
        x = (torch.rand(batch, n_pixels, generator=generator) < 0.5).to(dtype)
    else:
        x = torch.randint(0, 256, (batch, n_pixels), generator=generator).to(dtype)
    return x, (torch.rand(batch, k, 5, generator=generator) < 0.5).to(dtype)


@pytest.mark.parametrize("chunk_rows", [30, 100, 4096])  # one code a chunk, several images' codes, the whole batch
@pytest.mark.parametrize("border", [False, True])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize(("shape", "pixels"), [((5, 6), "binary"), ((4, 8, 3), "8bit")])
def test_the_fast_kernel_computes_the_plain_networks_parameters_and_gradients(
    shape, pixels, layers, border, chunk_rows, generator, monkeypatch
):
    monkeypatch.setattr(pixelcnn, "CHUNK_ROWS", chunk_rows)
    torch.manual_seed(8)
    decoder = random_decoder(shape, pixels, layers, border)
    x, z = images_and_codes(shape, pixels, 3, 4, generator)
    plain = decoder.plain_params(x, z)
    with torch.no_grad():
        torch.testing.assert_close(decoder.params(x, z), plain.detach(), rtol=1e-12, atol=1e-12)
    weights = torch.randn(plain.shape, generator=generator, dtype=plain.dtype)
    ours = torch.autograd.grad((decoder.params(x, z) * weights).sum(), list(decoder.parameters()))
    theirs = torch.autograd.grad((plain * weights).sum(), list(decoder.parameters()))
    for name, a, b in zip((n for n, _ in decoder.named_parameters()), ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10, msg=name)


# the codes' maps a few codes at a time, the parameters of a few, of one, or of all the maps made at once
@pytest.mark.parametrize(("mapped_codes", "scored_codes"), [(3, 37), (12, 5), (12, 1)])
@pytest.mark.parametrize(("shape", "pixels"), [((5, 6), "binary"), ((4, 8, 3), "8bit")])
def test_scoring_many_codes_a_few_at_a_time_gives_the_plain_log_likelihoods(
    shape, pixels, mapped_codes, scored_codes, generator, monkeypatch
):
    torch.manual_seed(9)
    decoder = random_decoder(shape, pixels, 2, border=True)
    x, z = images_and_codes(shape, pixels, 2, 37, generator)
    monkeypatch.setattr(pixelcnn, "CHUNK_ROWS", 64)
    monkeypatch.setattr(pixelcnn, "MAPPED_CODE_ROWS", mapped_codes * len(x) * shape[0] * shape[1])
    monkeypatch.setattr(pixelcnn, "SCORED_OUTPUTS", scored_codes * len(x) * decoder.likelihood.n_outputs)
    with torch.no_grad():
        plain = decoder.likelihood.log_prob(decoder.plain_params(x, z), x.unsqueeze(1))
        torch.testing.assert_close(decoder.log_prob(x, z), plain, rtol=1e-12, atol=1e-9)


def test_the_fast_kernel_keeps_to_the_plain_network_in_float32_at_the_digits_sizes(generator):
    torch.manual_seed(10)
    settings = {**network(layers=3, channels=16), "n_latent": 100, "hidden": [200]}
    decoder = build_networks(ImageFormat((28, 28), "binary"), settings)[1]
    x = (torch.rand(4, 784, generator=generator) < 0.2).float()
    z = (torch.rand(4, 10, 100, generator=generator) < 0.5).float()
    torch.testing.assert_close(decoder.params(x, z), decoder.plain_params(x, z), rtol=1e-4, atol=1e-4)
    ours = torch.autograd.grad(decoder.log_prob(x, z).sum(), list(decoder.parameters()))
    plain_log_prob = decoder.likelihood.log_prob(decoder.plain_params(x, z), x.unsqueeze(1))
    theirs = torch.autograd.grad(plain_log_prob.sum(), list(decoder.parameters()))
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3 * b.abs().max().item())


def test_graphs_of_the_fast_kernel_go_back_independently_and_once(generator):
    """Its kept pre-activations are reused by the next forward pass once a backward pass has released them: two
    graphs built before either goes back each get their own, and going back twice through one graph is refused."""
    torch.manual_seed(11)
    decoder = random_decoder((5, 6), "binary", 2, border=False)
    (x1, z1), (x2, z2) = (images_and_codes((5, 6), "binary", 2, 3, generator) for _ in range(2))
    params = list(decoder.parameters())
    first, second = decoder.log_prob(x1, z1).sum(), decoder.log_prob(x2, z2).sum()
    ours = [torch.autograd.grad(first, params), torch.autograd.grad(second, params)]
    for (x, z), grads in zip(((x1, z1), (x2, z2)), ours, strict=True):
        plain = decoder.likelihood.log_prob(decoder.plain_params(x, z), x.unsqueeze(1)).sum()
        for a, b in zip(grads, torch.autograd.grad(plain, params), strict=True):
            torch.testing.assert_close(a, b)
    again = decoder.log_prob(x1, z1).sum()
    torch.autograd.grad(again, params, retain_graph=True)
    with pytest.raises(RuntimeError, match="once"):
        torch.autograd.grad(again, params)
