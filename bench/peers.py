"""The peers we time against: scikit-learn's BernoulliRBM and the `rbms` package, through their public APIs.

Both run on the CPU (DEVICE) whatever device ours runs on: scikit-learn has no other, and `rbms` stays beside it. The
runners take tensors on any device and copy them to the CPU.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

# rbms decorates its kernels with torch.jit.script, which torch 2.14 deprecates with a FutureWarning on import
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)

DEVICE = torch.device("cpu")


def rbms_import_error() -> ImportError | None:
    """None when `rbms` imports, else why not: it is an optional peer (the `bench` extra), absent on some machines."""
    try:
        import rbms  # noqa: F401
    except ImportError as error:
        return error
    return None


def sklearn_epoch_runner(data: torch.Tensor, n_hidden: int, batch: int, lr: float, seed: int) -> Callable[[], None]:
    """One epoch of sklearn's BernoulliRBM (PCD-1) on a float32 copy of the data on the CPU: fit with n_iter=1 from
    a fresh model."""
    from sklearn.neural_network import BernoulliRBM

    array = data.to(DEVICE).numpy()

    def run() -> None:
        BernoulliRBM(n_components=n_hidden, batch_size=batch, n_iter=1, learning_rate=lr, random_state=seed).fit(array)

    return run


def rbms_model(W: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
    """rbms' Bernoulli-Bernoulli RBM holding CPU copies of our weights (W: n_visible x n_hidden, as ours)."""
    from rbms.bernoulli_bernoulli.classes import BBRBM

    W, a, b = (t.detach().to(DEVICE, copy=True) for t in (W, a, b))
    return BBRBM(weight_matrix=W, vbias=a, hbias=b)


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
    batches = data.to(DEVICE).split(batch)

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
