"""dataset "patches": 8-bit colour crops of scikit-learn's two sample photographs, from disjoint regions per split;
nothing to download."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_sample_images

from binlatent.datasets.base import SPLITS, DataError, RawDataset

PATCHES_N_TRAIN = 6000  # training crops drawn when data.n_train is 0
BLOCK_SIDE = 2  # the photographs are cut into square blocks of BLOCK_SIDE * patch_size pixels
BLOCK_SHARES = {"valid": 0.1, "test": 0.2}  # of the blocks; train takes the rest


def sample_photographs() -> tuple[np.ndarray, list[str]]:
    """scikit-learn's two sample photographs as uint8 (2, 427, 640, 3), and their file names."""
    bunch = load_sample_images()
    return np.stack(bunch.images), [Path(f).name for f in bunch.filenames]


def photo_blocks(photos_shape: tuple[int, int, int], side: int) -> np.ndarray:
    """(image, top, left) of the side x side blocks tiling n photographs (n, H, W) from the top left: (n_blocks, 3)."""
    n, h, w = photos_shape
    grid = np.meshgrid(np.arange(n), np.arange(h // side) * side, np.arange(w // side) * side, indexing="ij")
    return np.stack([g.ravel() for g in grid], axis=1)


def block_counts(n_blocks: int, patch_size: int) -> dict[str, int]:
    """Blocks per split: BLOCK_SHARES of n_blocks for valid and test (at least one each), the rest for train."""
    held = {s: max(1, round(share * n_blocks)) for s, share in BLOCK_SHARES.items()}
    if n_blocks - sum(held.values()) < 1:
        raise DataError(
            f"config: data.patch_size = {patch_size} cuts the photographs into {n_blocks} blocks of "
            f"{BLOCK_SIDE * patch_size} pixels a side, fewer than the 3 splits need; lower data.patch_size"
        )
    return {"train": n_blocks - sum(held.values()), **held}


def _crops_in(blocks: np.ndarray, n: int, side: int, patch_size: int, rng: np.random.Generator) -> np.ndarray:
    """(image, top, left) of n crops at uniform positions inside blocks drawn uniformly from `blocks`: (n, 3)."""
    corners = blocks[rng.integers(0, len(blocks), n)]  # (n, 3)
    shifts = rng.integers(0, side - patch_size + 1, (n, 2))  # (n, 2): rows and columns inside the block
    return corners + np.pad(shifts, ((0, 0), (1, 0)))


def patch_boxes(
    photos_shape: tuple[int, int, int], patch_size: int, counts: dict[str, int], seed: int
) -> dict[str, np.ndarray]:
    """(image, top, left) of counts[split] crops per split, each inside one block of its split.

    The blocks are dealt to the splits by the seed, so the splits' crops cover disjoint regions: no test pixel is
    seen in training. Each split draws from its own stream, so changing one count leaves the others' crops alone.
    """
    side = BLOCK_SIDE * patch_size
    blocks = photo_blocks(photos_shape, side)
    blocks = blocks[np.random.default_rng(seed).permutation(len(blocks))]
    sizes = block_counts(len(blocks), patch_size)
    own = np.split(blocks, np.cumsum([sizes[s] for s in SPLITS])[:-1])
    return {
        split: _crops_in(own[i], counts[split], side, patch_size, np.random.default_rng([seed, i]))
        for i, split in enumerate(SPLITS)
    }


def block_ids(photos_shape: tuple[int, int, int], boxes: np.ndarray, side: int) -> np.ndarray:
    """The index in photo_blocks(photos_shape, side) of the block holding each crop at boxes (n, 3): (n,)."""
    _, h, w = photos_shape
    return (boxes[:, 0] * (h // side) + boxes[:, 1] // side) * (w // side) + boxes[:, 2] // side


def cut_patches(photos: np.ndarray, boxes: np.ndarray, patch_size: int) -> np.ndarray:
    """The crops of photos (k, H, W, C) at boxes (n, 3) of (image, top, left): (n, patch_size, patch_size, C)."""
    span = np.arange(patch_size)
    rows = boxes[:, 1, None] + span  # (n, patch_size)
    cols = boxes[:, 2, None] + span  # (n, patch_size)
    return photos[boxes[:, 0, None, None], rows[:, :, None], cols[:, None, :]]


def patches_dataset(patch_size: int, n_train: int, n_valid: int, n_test: int, seed: int) -> RawDataset:
    """8-bit colour crops of patch_size pixels a side from scikit-learn's photographs; n_train 0: PATCHES_N_TRAIN."""
    photos, names = sample_photographs()
    counts = {"train": n_train or PATCHES_N_TRAIN, "valid": n_valid, "test": n_test}
    boxes = patch_boxes(photos.shape[:3], patch_size, counts, seed)
    images = {s: cut_patches(photos, b, patch_size).reshape(len(b), -1) for s, b in boxes.items()}
    blocks = {s: block_ids(photos.shape[:3], b, BLOCK_SIDE * patch_size) for s, b in boxes.items()}
    source = f"scikit-learn sample images {' and '.join(names)}: {patch_size}x{patch_size} crops"
    return RawDataset(images, {}, (patch_size, patch_size, photos.shape[3]), source, "8bit", blocks)


def from_config(config: Mapping[str, Any]) -> RawDataset:
    """Crops of data.patch_size pixels a side, as many per split as data.n_train, n_valid and n_test ask."""
    dcfg = config["data"]
    return patches_dataset(dcfg["patch_size"], dcfg["n_train"], dcfg["n_valid"], dcfg["n_test"], config["seed"])
