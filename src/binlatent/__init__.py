"""Deep generative models with binary latent variables: an RBM prior over binary codes and a deep decoder.

from binlatent import load_model
m = load_model("results/hybrid/model.pt")   # rebuilt from the checkpoint alone, no config
m.sample(16)
m.log_likelihood(x, K=1000)
"""

from typing import Any

# OpenMP's wait policy is left at libgomp's default: an idle intra-op thread spins for a few milliseconds before it
# sleeps. Snakemake gives each job its own cores (a job's threads never exceed them), so the spinning costs no other
# job; with OMP_WAIT_POLICY=PASSIVE, which the package set until revision 2dbf850, every operation woke the sleeping
# threads, and a stage of many small operations on 2 threads ran 1.75x slower than with them spinning (the patches'
# stage one: 11.0 against 6.0 ms per crop) and slower than on 1 thread (9.0).

__version__ = "0.1.0"
__all__ = ["load_model"]


def __getattr__(name: str) -> Any:
    """`load_model` is imported on first use, so that `binlatent.paths` and the rules load without torch."""
    if name == "load_model":
        from binlatent.models import load_model

        return load_model
    raise AttributeError(f"module 'binlatent' has no attribute {name!r}")
