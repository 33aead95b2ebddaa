"""Importance sampling over the codes of a batch of images within a memory budget.

The K codes z_k ~ q(z|x) of an image, with their log q, log p*(z_k) and log p(x|z_k), hold memory in proportion to K:
at K = 10^8 codes of 12 units, 4.8 GB for the codes alone. Where a batch's codes would hold more than
`memory_budget`, they are drawn and weighed in pieces, and what the estimates need is carried from piece to piece:
    log sum_k w_k     as a running log-sum-exp,
    draws of z_k with probability w_k / sum_k w_k     by replacing the draw so far with the new piece's own draw
                      with probability (the piece's sum of weights) / (the sum so far, the piece included),
so that the peak memory no longer grows with K. Below the budget the codes are drawn at once, as before, with the
same random numbers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from binlatent.estimators import draw_by_weight, iwae_bound
from binlatent.progress import Meter

log = logging.getLogger("binlatent")

# Bytes of per-code tensors held at once on a CPU (codes, their log-probabilities, the prior's and the decoder's work
# on them). At the K of the CPU configs every image's codes fit at once (the patches' 48 codes of a crop, the most:
# 136 MB), so their figures are unchanged; cifar10's 1,000 codes (8.3 GB through its PixelCNN) fit on a GPU with 34 GB
# free, and go in pieces of about 30 on a CPU.
MEMORY_BUDGET = 256 * 2**20
GPU_SHARE = 4  # on a GPU, the budget is this fraction of its free memory (when more than MEMORY_BUDGET)


def memory_budget(device: torch.device) -> int:
    """Bytes of per-code tensors to hold at once on `device`."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return max(MEMORY_BUDGET, free // GPU_SHARE)
    return MEMORY_BUDGET


def code_bytes(model: Any) -> int:
    """Bytes held per code of one image while it is weighed, about: the encoder's draw and its log q (8 values per
    unit of the code: the code, its uniforms, log q's terms), or the prior's work on it (3 per hidden unit of its RBMs,
    2 per unit of the code), whichever is more; and the decoder's (`floats_per_code`). Measured within a factor of 2
    (tests/test_evaluation_memory.py)."""
    n_latent, hidden_units = int(model.spec.network["n_latent"]), sum(model.spec.prior_layers)
    floats = max(8 * n_latent, 3 * hidden_units + 2 * n_latent) + 16 + model.decoder.floats_per_code()
    return 4 * floats


def codes_per_piece(model: Any, n_images: int) -> int:
    """How many codes of each of `n_images` images to draw at once within the memory budget (at least one)."""
    return max(1, memory_budget(model.device) // (code_bytes(model) * max(1, n_images)))


def pieces(bounds: Sequence[int], size: int) -> Iterator[tuple[int, int]]:
    """(start, length) of consecutive pieces of range(bounds[-1]) of at most `size`, cut at every one of `bounds`
    (increasing)."""
    start = 0
    for end in bounds:
        while start < end:
            length = min(size, end - start)
            yield start, length
            start += length


def meter(model: Any, n_images: int, k: int, what: str) -> Meter:
    """The progress of importance sampling over n_images images at K codes each; logs, where the codes of the model's
    chunks of images go in pieces, how many at a time."""
    piece = codes_per_piece(model, min(n_images, model.images_per_chunk(k)))
    if k > piece:
        log.info(
            "%s: %s codes per image, drawn %s at a time to stay within %.3g MB (binlatent.importance.MEMORY_BUDGET)",
            what, f"{k:,}", f"{piece:,}", memory_budget(model.device) / 2**20,
        )  # fmt: skip
    return Meter(f"{what} at K = {k:,}", n_images * k, "codes")


@torch.no_grad()
def log_mean_weight(model: Any, x: torch.Tensor, k: int, generator=None, progress: Meter | None = None) -> torch.Tensor:
    """log (1/K) sum_k w_k per image of x (batch, D), w_k = p(x|z_k) p*(z_k) / q(z_k|x), z_k ~ q(.|x): float64
    (batch,); the codes in pieces within the memory budget."""
    size = codes_per_piece(model, len(x))
    if k <= size:
        out = iwae_bound(model.log_weights(x, k, generator)[0].double())
        _advance(progress, len(x) * k)
        return out
    total = None
    for _, length in pieces([k], size):
        part = torch.logsumexp(model.log_weights(x, length, generator)[0].double(), 1)  # (batch,)
        total = part if total is None else torch.logaddexp(total, part)
        _advance(progress, len(x) * length)
    return total - math.log(k)


@torch.no_grad()
def weights_and_draws(
    model: Any, x: torch.Tensor, sizes: Sequence[int], chains: int, generator=None, progress: Meter | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each n of `sizes` (increasing), over the first n of sizes[-1] codes z_k ~ q(.|x) per image of x
    (batch, D): log (1/n) sum_k w_k, float64 (labels, batch); and `chains` draws of the top RBM's units of those
    codes with probability w_k / sum_k w_k, (labels, batch, chains, top units). The codes go in pieces within the
    memory budget."""
    n_codes, size = sizes[-1], codes_per_piece(model, len(x))
    if n_codes <= size:
        log_w, top = _weighed_codes(model, x, n_codes, generator)
        bounds = torch.stack([iwae_bound(log_w[:, :n]) for n in sizes])
        drawn = torch.stack([draw_by_weight(log_w[:, :n], top[:, :n], chains, generator) for n in sizes])
        _advance(progress, len(x) * n_codes)
        return bounds, drawn
    totals: list[torch.Tensor | None] = [None] * len(sizes)
    drawn_so_far: list[torch.Tensor | None] = [None] * len(sizes)
    for start, length in pieces(sizes, size):
        log_w, top = _weighed_codes(model, x, length, generator)
        part = torch.logsumexp(log_w, 1)  # (batch,)
        for i, n in enumerate(sizes):
            if start >= n:  # the piece lies past the first n codes
                continue
            draws = draw_by_weight(log_w, top, chains, generator)  # (batch, chains, top units)
            if totals[i] is None:
                totals[i], drawn_so_far[i] = part, draws
                continue
            total = torch.logaddexp(totals[i], part)
            u = torch.rand(len(x), chains, generator=generator, device=log_w.device, dtype=torch.float64)
            replace = (u < torch.exp(part - total).unsqueeze(1)).unsqueeze(-1)  # (batch, chains, 1)
            totals[i], drawn_so_far[i] = total, torch.where(replace, draws, drawn_so_far[i])
        _advance(progress, len(x) * length)
    bounds = torch.stack([total - math.log(n) for total, n in zip(totals, sizes, strict=True)])
    return bounds, torch.stack(drawn_so_far)


def _weighed_codes(model: Any, x: torch.Tensor, k: int, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """log w of K codes per image of x, float64 (batch, K), and the top RBM's units of each code (batch, K, units)."""
    z, log_q = model.encoder.sample(x, k, generator)
    log_prior, _, top = model.prior.importance_log_prob(z, generator)
    return (model.decoder.log_prob(x, z) + log_prior - log_q).double(), top


def _advance(progress: Meter | None, units: int) -> None:
    if progress is not None:
        progress.advance(units)
