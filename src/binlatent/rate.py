"""How much the code carries: E_q[log q(z|x) - log p(z)] in nats per image, the rate term of the bound.

A decoder strong enough to model the images alone can leave the code unused (posterior collapse, Chen et al.,
ICLR 2017); then q(z|x) is the prior for every image and this is zero. A deterministic code of n units under a
uniform prior carries n ln 2 nats.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from binlatent.models import HybridModel
from binlatent.stats import mean_and_se

CODE_BATCH = 500  # test images sampled at once
UPPER_SAMPLES = 10  # samples of a deep prior's upper layers per code, for its importance estimate of p*(z)


@torch.no_grad()
def code_nats(
    model: HybridModel, x: torch.Tensor, log_z: float, k: int = 10, generator=None, blocks: np.ndarray | None = None
) -> tuple[float, float]:
    """Mean over images of the K-sample average of log q(z|x) - log p*(z) + log Z, z ~ q(.|x), and its standard
    error over images (clustered by `blocks` where given: binlatent.stats); nats per image (log Z: the prior's, 0
    for a normalised prior). For a deep prior log p*(z) is the log-mean-exp of UPPER_SAMPLES importance estimates
    over its upper layers, so the figure is an upper estimate of the rate (exact for the other priors)."""
    parts = []
    for xb in x.split(CODE_BATCH):
        z, log_q = model.encoder.sample(xb, k, generator)  # (batch, K, n_latent), (batch, K)
        log_p = model.prior.importance_log_prob(z.expand(UPPER_SAMPLES, *z.shape), generator)[0]
        log_p = torch.logsumexp(torch.as_tensor(log_p).double(), 0) - math.log(UPPER_SAMPLES)
        parts.append((log_q.double() - log_p).mean(1) + log_z)
    per_image = torch.cat(parts)
    return mean_and_se(per_image.cpu().numpy(), blocks)
