"""The autoregressive decoder's speed: the gated PixelCNN's training step and its per-code scoring, each beside the
same work's matrix products alone.

At the digits' sizes (the ablations' hybrid_autoregressive: the default config's networks with network.decoder
autoregressive, 28x28 binary digits) and at the patches' (configs/patches.yaml: 32x32x3 8-bit crops, a logistic
mixture, the border):
- `*_step`: whole fine-tuning steps of that hybrid (JointTraining.epoch over `steps` batches: encoder, decoder,
  RBM prior, VIMCO and AdamW), so per image and code it is the step's time over batch_size * K;
- `*_score`: log p(x|z) without autograd of `images` images, each under the 4K codes that RAISE scores it under in
  the evaluation (conservative_estimates: one image's 4K codes at a time), codes drawn from the encoder.

Each runs on the threads its rule gets (finetune, evaluate). The bound is measured as the stages' are
(stage_bounds.py): every matrix product and convolution the task runs, the convolutions as the dense products of
their sizes, replayed alone on this machine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from harness import CPU
from stage_bounds import ROOT, digit_like, on_threads

from binlatent.configfiles import load_config
from binlatent.finetune import JointTraining
from binlatent.image import ImageFormat
from binlatent.models import build_model, model_arguments
from binlatent.plan import resource
from binlatent.variants import finetune_config, resolve

SIZES = {  # name: (config files over config.yaml, image format, training steps timed, images scored)
    "pixelcnn_digits": ((), ImageFormat((28, 28), "binary"), 2, 1),
    "pixelcnn_patches": (("configs/patches.yaml",), ImageFormat((32, 32, 3), "8bit"), 8, 4),
}


@dataclass(frozen=True)
class DecoderWork:
    """A task, its warm-up, the torch threads both run on, and how many (image, code) pairs one call scores."""

    fn: Callable[[], Any]
    warmup: Callable[[], Any]
    threads: int
    pairs: int


def images_like(image: ImageFormat, n: int, generator: torch.Generator) -> torch.Tensor:
    """n flat images: digit-like binary ones (28x28), or uniform 8-bit values."""
    if image.pixels == "binary":
        return digit_like(n, generator)
    return torch.randint(0, 256, (n, image.n_pixels), generator=generator, device=generator.device).float()


def decoder_tasks(seed: int, device: torch.device = CPU) -> dict[str, DecoderWork]:
    """The training step and the per-code scoring of the autoregressive hybrid at each size of SIZES, on `device`.
    Weights start from the global CPU generator, as in the workflow's stages."""
    tasks: dict[str, DecoderWork] = {}
    for name, (files, image, steps, images) in SIZES.items():
        config = load_config(ROOT, files)  # merged and validated as Snakemake does
        spec = resolve("hybrid", {**config["models"]["hybrid"], "decoder": "autoregressive"}, config)
        g = torch.Generator(device).manual_seed(seed)
        torch.manual_seed(seed)
        model = build_model(model_arguments(spec, image)).to(device)
        cfg = finetune_config(config["finetune"], spec)
        training = JointTraining(model, cfg, g)
        batch = cfg["batch_size"]
        x = images_like(image, batch * steps, g)
        codes = 4 * config["evaluate"]["K"]
        with torch.no_grad():
            z = model.encoder.sample(x[:images], codes, g)[0]  # (images, 4K, n_latent)

        def score(x: torch.Tensor = x, z: torch.Tensor = z, model=model, n: int = images) -> None:
            with torch.no_grad():
                for i in range(n):
                    model.decoder.log_prob(x[i : i + 1], z[i : i + 1])

        def step(x: torch.Tensor = x, training: JointTraining = training) -> float:
            return training.epoch(x)

        def warm_step(x: torch.Tensor = x[:batch], training: JointTraining = training) -> float:
            return training.epoch(x)

        train_threads = resource(config, "finetune", "threads")
        score_threads = resource(config, "evaluate", "threads")
        tasks[f"{name}_step"] = DecoderWork(on_threads(train_threads, step), on_threads(train_threads, warm_step),
                                            train_threads, batch * steps * cfg["K"])  # fmt: skip
        tasks[f"{name}_score"] = DecoderWork(on_threads(score_threads, score), on_threads(score_threads, score),
                                             score_threads, images * codes)  # fmt: skip
    return tasks


def per_pair_ms(seconds: Mapping[str, float], tasks: Mapping[str, DecoderWork]) -> dict[str, float]:
    """Milliseconds per (image, code) pair of each task and of its bound, where measured."""
    out = {}
    for name, work in tasks.items():
        for key in (f"{name}_s", f"{name}_matmul_bound_s"):
            if key in seconds:
                out[key] = seconds[key] / work.pairs * 1e3
    return out
