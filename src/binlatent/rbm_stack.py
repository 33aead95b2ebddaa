"""Layer-wise RBM initialisation of the encoder and decoder (stage1.init: rbm_stack), the classic pretraining of
a deep autoencoder (Hinton & Salakhutdinov 2006): RBM 1 is fitted to the pixels, RBM l+1 to the hidden units of
RBM l, up to the code layer; the stack is then unrolled into the encoder (the RBMs' upward passes) and the mirrored
decoder (their downward passes) before stage one trains them as an autoencoder.

An autoregressive decoder (network.decoder, or a model's `decoder`: autoregressive) takes what fits of the same
stack: its MLP from z to the per-pixel maps of the code gets the downward passes of the RBMs above the pixels in its
hidden layers, the same as the mirrored decoder's; its last layer (to the maps, not to the pixels' logits) and the
gated PixelCNN keep their random initialisation. The encoder is the same as with the mirrored decoder.

The MLP's hidden units are tanh, the RBMs' sigmoid: since sigmoid(a) = (1 + tanh(a / 2)) / 2, a layer whose
input is tanh takes the weights W / 2 and bias b + W 1 / 2, and one whose output is tanh halves both; so the
unrolled network computes exactly the RBMs' mean-field passes, up to that affine change of units.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from binlatent.networks import Decoder, Encoder
from binlatent.pixelcnn import AutoregressiveDecoder
from binlatent.rbm import RBM
from binlatent.variants import RBMStackError


@torch.no_grad()
def set_sigmoid_layer(linear: nn.Linear, weight: torch.Tensor, bias: torch.Tensor, tanh_in: bool, tanh_out: bool):
    """Make `linear` compute the sigmoid layer (weight, bias) in tanh units: its input t = 2 s - 1 when
    `tanh_in`, and its output the pre-activation of tanh(a / 2) = 2 sigmoid(a) - 1 when `tanh_out`."""
    if tanh_in:
        weight, bias = weight / 2, bias + weight.sum(1) / 2
    if tanh_out:
        weight, bias = weight / 2, bias / 2
    linear.weight.copy_(weight)
    linear.bias.copy_(bias)


def linear_layers(net: nn.Module) -> list[nn.Linear]:
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


def decoder_network(decoder: Decoder | AutoregressiveDecoder) -> nn.Module:
    """The MLP of a decoder that reads z: the mirrored decoder's own, or the one that makes an autoregressive
    decoder's per-pixel maps of z."""
    return decoder.code_maps.net if isinstance(decoder, AutoregressiveDecoder) else decoder.net


@torch.no_grad()
def unroll(encoder: Encoder, decoder: Decoder | AutoregressiveDecoder, rbms: Sequence[RBM]) -> None:
    """Set the encoder's layers to the RBMs' upward passes and the decoder's to their downward passes; the last
    encoder layer gives the code's logits, the last decoder layer the pixels' logits.

    An autoregressive decoder's MLP gets the downward passes into its hidden layers only: its last layer makes the
    per-pixel maps of z that condition the PixelCNN, which no RBM computes, so it and the PixelCNN keep their
    random initialisation (see the module's docstring)."""
    up, down = linear_layers(encoder.net), linear_layers(decoder_network(decoder))
    sizes = [(r.n_visible, r.n_hidden) for r in rbms]
    if [(m.in_features, m.out_features) for m in up] != sizes:
        raise RBMStackError(f"an RBM stack of {sizes} does not fit this encoder")
    first = 1 if isinstance(decoder, AutoregressiveDecoder) else 0  # the RBM whose downward pass it takes first
    mirrored = [(m.out_features, m.in_features) for m in reversed(down)]  # as the RBMs' (visible, hidden), bottom first
    if len(down) != len(rbms) or mirrored[first:] != sizes[first:]:
        raise RBMStackError(f"an RBM stack of {sizes} does not fit this decoder")
    last = len(rbms) - 1
    for i, rbm in enumerate(rbms):
        set_sigmoid_layer(up[i], rbm.W.T, rbm.b, tanh_in=i > 0, tanh_out=i < last)
        if i >= first:
            set_sigmoid_layer(down[last - i], rbm.W, rbm.a, tanh_in=i < last, tanh_out=i > 0)
