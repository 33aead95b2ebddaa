"""Deep generative models with binary latent variables: an RBM prior over binary codes and a deep decoder."""

import os

# Idle OpenMP threads sleep instead of spinning: with spinning threads, two jobs sharing the cores
# (Snakemake running rules side by side, or the tests beside a run) slow each other down tenfold.
# It must be set before torch is first imported, so the package sets it on import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
