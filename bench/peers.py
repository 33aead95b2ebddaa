"""The peers we time against: scikit-learn's BernoulliRBM and the `rbms` package, through their public APIs."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch

# rbms decorates its kernels with torch.jit.script, which torch 2.14 deprecates with a FutureWarning on import
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)


def sklearn_epoch_runner(data: np.ndarray, n_hidden: int, batch: int, lr: float, seed: int) -> Callable[[], None]:
    """One epoch of sklearn's BernoulliRBM (PCD-1) on float32 data: fit with n_iter=1 from a fresh model."""
    from sklearn.neural_network import BernoulliRBM

    def run() -> None:
        BernoulliRBM(n_components=n_hidden, batch_size=batch, n_iter=1, learning_rate=lr, random_state=seed).fit(data)

    return run


def rbms_model(W: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
    """rbms' Bernoulli-Bernoulli RBM holding copies of our weights (W: n_visible x n_hidden, as ours)."""
    from rbms.bernoulli_bernoulli.classes import BBRBM

    return BBRBM(weight_matrix=W.detach().clone(), vbias=a.detach().clone(), hbias=b.detach().clone())


def rbms_epoch_runner(
    W: torch.Tensor, a: torch.Tensor, b: torch.Tensor, data: torch.Tensor, batch: int, lr: float
) -> Callable[[], None]:
    """One PCD-1 epoch with rbms' own training step (fit_batch_pcd + SGD, as in rbms.training.pcd.train)."""
    from rbms.training.pcd import fit_batch_pcd

    params = rbms_model(W, a, b)
    params.init_grad()
    optimizer = torch.optim.SGD(params.parameters(), lr=lr, maximize=True)
    chains = params.init_chains(num_samples=batch)
    weights = torch.ones(batch)
    batches = data.split(batch)

    def run() -> None:
        nonlocal chains
        with torch.no_grad():
            for v in batches:
                optimizer.zero_grad(set_to_none=False)
                # centered=False: the plain <v h>_data - <v h>_model gradient that our contrastive_step uses
                chains, _ = fit_batch_pcd((v, weights), chains, params, gibbs_steps=1, beta=1.0, centered=False)
                optimizer.step()

    return run


def rbms_ais(W: torch.Tensor, a: torch.Tensor, b: torch.Tensor, n_runs: int, n_steps: int) -> float:
    """log Z by rbms' compute_partition_function_ais with n_steps transitions (n_steps + 1 betas from 0 to 1)."""
    from rbms.partition_function.ais import compute_partition_function_ais

    return compute_partition_function_ais(num_chains=n_runs, num_beta=n_steps + 1, params=rbms_model(W, a, b))
