"""Priors over the code z, behind one interface (`Prior`, binlatent.priors.base): an RBM prior of any depth (one
RBM, or a stack of RBMs used as a deep belief net), the factorised Bernoulli prior and the Gaussian, each a class
registered by its kind in PRIORS. A prior is rebuilt from its kind and sizes (`build_prior`): a new prior is one new
class added to PRIORS, and no caller asks which class a prior is.

The data AIS's base-rate model is fitted to is the prior's `base_data` of codes of training images: the codes
themselves, or for a deep prior the top RBM's units of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from binlatent.priors.base import Prior
from binlatent.priors.factorised import FactorisedPrior
from binlatent.priors.gaussian import GaussianPrior
from binlatent.priors.log_z import LogZ, LogZSettings, enumerable, rbm_log_z
from binlatent.priors.rbm_prior import RBMPrior, chain_starts

__all__ = [
    "PRIORS",
    "FactorisedPrior",
    "GaussianPrior",
    "LogZ",
    "LogZSettings",
    "Prior",
    "RBMPrior",
    "build_prior",
    "chain_starts",
    "enumerable",
    "rbm_log_z",
]

PRIORS: dict[str, type[Prior]] = {p.kind: p for p in (RBMPrior, FactorisedPrior, GaussianPrior)}


def build_prior(kind: str, n_latent: int, n_hidden: Sequence[int] = ()) -> Prior:
    """An untrained prior of `kind` over `n_latent` units; `n_hidden`: the hidden units of each RBM of an RBM
    prior, bottom first."""
    return PRIORS[kind](n_latent, n_hidden)
