"""Running the real snakemake command from the tests, reading what configs/smoke.yaml runs write, and writing
tiny datasets in the real formats of MNIST, CIFAR-10 and MNIST's fixed binarisation."""

from __future__ import annotations

import dataclasses
import pickle
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from binlatent.image import ImageFormat
from binlatent.variants import ModelSpec

REPO = Path(__file__).resolve().parents[1]
SMALL_NETWORK = {  # a complete network section, small: what a spec of a model with a code carries
    "kind": "mlp",
    "n_latent": 6,
    "hidden": [8],
    "activation": "tanh",
    "channels": [4, 8],
    "res_blocks": 1,
    "mixture": 2,
    "decoder": "mirrored",
    "pixelcnn": {"layers": 1, "channels": 4, "kernel": 3, "border": False},
}
# config['models'] of the smoke run
SMOKE_MODELS = ["hybrid", "hybrid_deep", "factorised", "hybrid_scratch", "iwae", "rbm_pixels"]
WALL_TIMES = ["train_seconds", "eval_seconds"]  # the metrics' columns that differ between identical runs


def snakemake(*args: str, timeout: int = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `snakemake ARGS` in the repository root, in `env` (default: ours); the finished process (not checked)."""
    cmd = [sys.executable, "-m", "snakemake", "--nolock", *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)


def planned_jobs(out: Path, *configfiles: Path | str) -> set[str]:
    """The jobs `snakemake -n` plans for the smoke config with `configfiles` merged over it, named by their logs."""
    import re

    files = [str(f) for f in configfiles]
    result = snakemake("-n", "--configfile", "configs/smoke.yaml", *files, "--config", f"outdir={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    return set(re.findall(r"log: \S+/logs/(\S+)\.log", result.stdout + result.stderr))


def metrics(out: Path, model: str) -> pd.DataFrame:
    """A model's metrics.csv from the run in `out`, without its wall times."""
    return pd.read_csv(out / model / "metrics.csv").drop(columns=WALL_TIMES)


def with_network(spec: ModelSpec, network: dict[str, Any]) -> ModelSpec:
    """`spec` with SMALL_NETWORK's settings overridden by `network`."""
    return dataclasses.replace(spec, network={**SMALL_NETWORK, **network})


def built_model(spec: ModelSpec, image: ImageFormat, network: dict[str, Any] | None = None):
    """An untrained model of `spec` for `image`, its networks SMALL_NETWORK's overridden by `network` where given."""
    from binlatent.models import build_model, model_arguments

    return build_model(model_arguments(spec if network is None else with_network(spec, network), image))


def validated_config(**keys: Any) -> dict[str, Any]:
    """A config of the given keys with every other key at the schema's default, as the workflow validates it."""
    from snakemake.utils import validate

    config = {k: dict(v) if isinstance(v, dict) else v for k, v in keys.items()}
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config


def _write_idx(path: Path, x: np.ndarray) -> None:
    """An IDX file of uint8 values: magic 0x08nn (nn = ndim: 2051 images, 2049 labels), big-endian sizes, the bytes."""
    path.write_bytes(struct.pack(f">I{x.ndim}I", 0x800 + x.ndim, *x.shape) + x.tobytes())


def write_mnist_raw(root: Path, n_train: int, n_test: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Tiny MNIST as torchvision reads it from root/MNIST/raw/; the uint8 images and labels written, train and test."""
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        written[split] = images, labels
    return written


class _Python2Pickler(pickle._Pickler):
    """Pickles bytes as Python 2 str, as CIFAR-10's python batches were written (read with encoding='latin1')."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_python2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + struct.pack("<B", len(obj)) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_python2_str


def _write_python2_pickle(path: Path, obj: Any) -> None:
    with open(path, "wb") as f:
        _Python2Pickler(f, protocol=2).dump(obj)


CIFAR10_LABELS = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


def write_cifar10_batches(root: Path, n_per_batch: int, n_test: int, seed: int) -> dict[str, tuple[np.ndarray, list]]:
    """Tiny CIFAR-10 python batches under root/cifar-10-batches-py/, as the real ones: dicts with b"data" uint8
    (n, 3072), each row the red, green and blue 32x32 planes, and b"labels"; the data and labels written, by file."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = {}
    for name, n in [(f"data_batch_{i}", n_per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        data, labels = rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n).tolist()
        filenames = [f"{name}_{i}.png".encode() for i in range(n)]
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": filenames}
        _write_python2_pickle(folder / name, batch)
        written[name] = data, labels
    meta = {b"num_cases_per_batch": n_per_batch, b"label_names": CIFAR10_LABELS, b"num_vis": 3072}
    _write_python2_pickle(folder / "batches.meta", meta)
    return written


def write_binarized_mnist_amat(root: Path, n_train: int, n_valid: int, n_test: int, seed: int) -> dict[str, np.ndarray]:
    """Tiny files of MNIST's fixed binarisation, root/binarized_mnist_{split}.amat: one image a line, 784 values 0/1."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, n in (("train", n_train), ("valid", n_valid), ("test", n_test)):
        written[split] = (rng.random((n, 784)) < 0.15).astype(np.uint8)
        np.savetxt(root / f"binarized_mnist_{split}.amat", written[split], fmt="%d", delimiter=" ")
    return written
