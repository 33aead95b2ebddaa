"""Deep generative models with binary latent variables: an RBM prior over binary codes and a deep decoder.

from binlatent import load_model
m = load_model("results/hybrid/model.pt")   # rebuilt from the checkpoint alone, no config
m.sample(16)
m.log_likelihood(x, K=1000)
"""

import os
from typing import Any

# Idle OpenMP threads sleep instead of spinning: with spinning threads, two jobs sharing the cores
# (Snakemake running rules side by side, or the tests beside a run) slow each other down tenfold.
# It must be set before torch is first imported, so the package sets it on import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
__all__ = ["load_model"]


def __getattr__(name: str) -> Any:
    """`load_model` is imported on first use, so that `binlatent.paths` and the rules load without torch."""
    if name == "load_model":
        from binlatent.models import load_model

        return load_model
    raise AttributeError(f"module 'binlatent' has no attribute {name!r}")
