"""Published test log-likelihoods on binarised MNIST, shown beside ours and marked as published.

Only figures checked against their source are listed. All were measured on full MNIST
(60,000 training images), not on the 5,000-digit subset of the default run.
"""

from __future__ import annotations

import pandas as pd

BINARISED_MNIST_NLL = [
    # (model, test NLL in nats, binarisation, source)
    ("EoNADE, 2 layers, 128 orderings", 85.10, "static", "Uria et al., ICML 2014"),
    ("PixelCNN", 81.30, "static", "van den Oord et al., ICML 2016"),
    ("VLAE", 79.03, "static", "Chen et al., ICLR 2017"),
    ("VLAE", 78.53, "dynamic", "Chen et al., ICLR 2017"),
    ("DVAE++ (RBM prior)", 78.49, "dynamic", "Vahdat et al., ICML 2018"),
]


def published_table() -> pd.DataFrame:
    """One row per published model: test log-likelihood (nats) = -NLL."""
    return pd.DataFrame(
        [
            {"model": m, "test_ll": -nll, "binarisation": b, "source": f"published: {src}, full MNIST"}
            for m, nll, b, src in BINARISED_MNIST_NLL
        ]
    )
