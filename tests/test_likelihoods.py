"""The 8-bit likelihood (discretised logistic mixture) against exact sums, and the convolutional networks."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from helpers import SMALL_NETWORK, built_model

from binlatent import networks
from binlatent.convnets import ConvDecoderNet, ConvEncoderNet
from binlatent.image import ImageFormat
from binlatent.likelihoods import BernoulliPixels, DiscretisedLogisticMixture
from binlatent.networks import Decoder
from binlatent.variants import ModelSpec

CONV = {"kind": "conv", "n_latent": 6, "channels": [4, 8], "res_blocks": 1, "mixture": 2}


def random_params(mix: DiscretisedLogisticMixture, batch: int, generator, log_scale: float = -2.5) -> torch.Tensor:
    """Mixture parameters with means spread over [-1, 1] and log scales around `log_scale`."""
    params = torch.randn(batch, mix.n_positions, mix.per_position // mix.n_mix, mix.n_mix, generator=generator)
    c = mix.channels
    params[:, :, 1 : 1 + c] *= 0.6  # means inside the range, some near the ends
    params[:, :, 1 + c : 1 + 2 * c] = log_scale + 0.5 * params[:, :, 1 + c : 1 + 2 * c]
    return params.reshape(batch, -1).double()


def test_each_channel_probabilities_over_256_values_sum_to_one(generator):
    mix = DiscretisedLogisticMixture((1, 1, 1), n_mix=3)
    params = random_params(mix, 4, generator)
    values = torch.arange(256, dtype=torch.float64).reshape(256, 1, 1)  # every value of the one pixel
    total = torch.logsumexp(mix.log_prob(params.unsqueeze(0), values), 0)
    torch.testing.assert_close(total, torch.zeros(4, dtype=torch.float64), atol=1e-6, rtol=0)


def test_colour_pixel_probabilities_over_all_256_cubed_values_sum_to_one(generator):
    mix = DiscretisedLogisticMixture((1, 1, 3), n_mix=2)
    params = random_params(mix, 1, generator)
    grid = torch.arange(256, dtype=torch.float64)
    red_green = torch.cartesian_prod(grid, grid)  # (65536, 2)
    parts = []
    for blue in grid.split(16):  # 16 blue values at a time: about a million colours per call
        rgb = torch.cat([red_green.repeat_interleave(len(blue), 0), blue.repeat(len(red_green)).unsqueeze(1)], 1)
        parts.append(torch.logsumexp(mix.log_prob(params, rgb), 0))
    torch.testing.assert_close(torch.logsumexp(torch.stack(parts), 0), torch.tensor(0.0, dtype=torch.float64),
                               atol=1e-6, rtol=0)  # fmt: skip


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5, 3)])
def test_scoring_without_autograd_gives_the_plain_formulas_log_likelihoods(shape, dtype, generator):
    """scored_log_prob, which computes the bins' rarer cases only where they apply, against plain_log_prob: an
    image with values at both ends under parameters whose bins' masses range from underflow to most of the mass."""
    mix = DiscretisedLogisticMixture(shape, n_mix=3)
    params = torch.cat([random_params(mix, 6, generator, log_scale) for log_scale in (-6.0, -2.5, 0.5)]).to(dtype)
    x = torch.randint(0, 256, (1, 1, mix.n_positions * mix.channels), generator=generator).to(dtype)
    x[..., :3], x[..., -3:] = 0, 255
    plain = mix.plain_log_prob(params.unsqueeze(0), x)
    with torch.no_grad():
        scored = mix.log_prob(params.unsqueeze(0), x)
    torch.testing.assert_close(scored, plain, rtol=1e-5 if dtype == torch.float32 else 1e-12, atol=0)
    several = x.expand(2, 1, -1)  # several images: the plain formula
    torch.testing.assert_close(mix.scored_log_prob(params.unsqueeze(0), several), plain.expand(2, -1))


def test_one_component_is_the_logistic_cdf_difference_over_the_bin():
    mix = DiscretisedLogisticMixture((1, 1, 1), n_mix=1)
    mean, log_scale = 0.1, -3.0
    params = torch.tensor([[0.0, mean, log_scale]], dtype=torch.float64)
    logistic = torch.distributions.TransformedDistribution(
        torch.distributions.Uniform(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)),
        [torch.distributions.transforms.SigmoidTransform().inv,
         torch.distributions.transforms.AffineTransform(mean, torch.tensor(log_scale).exp().double())],
    )  # fmt: skip
    for value in (0, 120, 140, 160, 255):  # bins with mass above 1e-5, and the two end bins
        centre = value / 127.5 - 1
        upper = 1.0 if value == 255 else logistic.cdf(torch.tensor(centre + 1 / 255, dtype=torch.float64))
        lower = 0.0 if value == 0 else logistic.cdf(torch.tensor(centre - 1 / 255, dtype=torch.float64))
        got = mix.log_prob(params, torch.tensor([[float(value)]], dtype=torch.float64))
        torch.testing.assert_close(got, torch.log(torch.as_tensor(upper - lower)).reshape(1), atol=1e-5, rtol=1e-5)


def test_mean_is_the_expectation_of_the_discretised_mixture(generator):
    mix = DiscretisedLogisticMixture((1, 1, 1), n_mix=3)
    params = random_params(mix, 5, generator, log_scale=-3.0)
    params = params.reshape(5, 3, 3)
    params[:, 1] = params[:, 1].clamp(-0.8, 0.8)  # away from the end bins, where E[x] is the logistic mean
    params = params.reshape(5, -1)
    values = torch.arange(256, dtype=torch.float64).reshape(256, 1, 1)
    probs = mix.log_prob(params.unsqueeze(0), values).exp()  # (256, 5)
    expected = (probs * values.reshape(256, 1) / 255).sum(0)
    torch.testing.assert_close(mix.mean(params).squeeze(-1), expected, atol=2e-3, rtol=0)


@pytest.mark.parametrize("shape", [(8, 8, 3), (8, 12)])
def test_conv_networks_map_flat_images_to_codes_and_codes_to_pixel_parameters(shape, generator):
    torch.manual_seed(0)
    encoder = ConvEncoderNet(shape, [4, 8, 16], 1, 6, max_value=255.0)
    decoder = ConvDecoderNet(6, shape, [4, 8, 16], 1, per_position=7)
    x = torch.randint(0, 256, (5, int(torch.tensor(shape).prod())), generator=generator).float()
    assert encoder(x).shape == (5, 6)
    out = decoder(torch.rand(5, 3, 6))
    assert out.shape == (5, 3, shape[0] * shape[1] * 7)
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in decoder.parameters())


def test_conv_networks_name_the_sizes_that_do_not_fit():
    with pytest.raises(ValueError, match="network.channels has 3 resolutions.*divide by 4.*6x8"):
        ConvEncoderNet((6, 8, 3), [4, 8, 16], 1, 6, max_value=255.0)


def test_8bit_model_weights_are_finite_and_training_raises_the_bound(generator):
    torch.manual_seed(0)
    image = ImageFormat((8, 8, 3), "8bit")
    spec = ModelSpec("tiny", "factorised", False, False, "vimco", 2, 0, 1e-3, network=SMALL_NETWORK)
    model = built_model(spec, image, CONV)
    base = torch.randint(0, 256, (1, 8, 8, 3), generator=generator).float()
    x = (base + torch.randint(-6, 7, (64, 8, 8, 3), generator=generator)).clamp(0, 255).reshape(64, -1)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    bounds = []
    for _ in range(60):
        log_w, _, log_q = model.log_weights(x, 2, generator)
        loss = -(log_w.logsumexp(-1)).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        bounds.append(-float(loss.detach()))
    assert log_w.shape == (64, 2) and torch.isfinite(log_w).all()
    assert bounds[-1] > bounds[0] + 0.5 * 192  # at least half a nat per dimension better
    means = model.reconstruct(x)
    assert means.shape == x.shape and 0 <= means.min() and means.max() <= 1


def test_colour_channels_are_coupled_within_a_component():
    mix = DiscretisedLogisticMixture((1, 1, 3), n_mix=1)
    params = torch.zeros(1, mix.per_position, dtype=torch.float64)
    params[0, 4:7] = -4.0  # narrow logistics at mean 0 for each channel
    params[0, 7] = 10.0  # tanh -> 1: green's mean follows red
    red_high = torch.tensor([[230.0, 230.0, 128.0]], dtype=torch.float64)
    red_low = torch.tensor([[20.0, 230.0, 128.0]], dtype=torch.float64)
    assert mix.log_prob(params, red_high) > mix.log_prob(params, red_low) + 10
    assert list(itertools.islice(mix.pairs, 3)) == [(1, 0), (2, 0), (2, 1)]


@pytest.mark.parametrize("image", [(4, 4), (2, 2, 3)])
def test_decoding_many_codes_in_cache_sized_pieces_gives_the_whole_batchs_log_prob(image, monkeypatch, generator):
    """Without autograd the codes are decoded a few at a time; every image's log p(x|z_k) is unchanged."""
    binary = len(image) == 2
    likelihood = BernoulliPixels(image) if binary else DiscretisedLogisticMixture(image, n_mix=2)
    net = torch.nn.Linear(5, likelihood.n_outputs)
    decoder = Decoder(net, likelihood)
    x = torch.randint(0, 2 if binary else 256, (3, math.prod(image)), generator=generator)
    z = torch.randint(0, 2, (3, 10, 5), generator=generator).float()
    whole = decoder.log_prob(x.float(), z).detach()  # autograd on: one pass over every code
    calls = []
    net.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[1]))
    monkeypatch.setattr(networks, "CACHED_OUTPUTS", 3 * 4 * likelihood.n_outputs)  # 4 codes of 3 images
    with torch.no_grad():
        pieces = decoder.log_prob(x.float(), z)
    assert calls == [4, 4, 2]
    torch.testing.assert_close(pieces, whole)
