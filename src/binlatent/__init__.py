"""Deep generative models with binary latent variables: an RBM prior over binary codes and a deep decoder."""

__version__ = "0.1.0"
