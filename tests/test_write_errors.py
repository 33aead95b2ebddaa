"""Artifact writes that fail: a stage on a full disk, every writer on a full or read-only file system, and the
previous file left intact. Needs root to mount a small tmpfs; skipped otherwise."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from helpers import validated_config

from binlatent import plots, stages
from binlatent.checkpoints import load_checkpoint, save_checkpoint
from binlatent.io import ArtifactWriteError, atomic_path, read_h5, write_h5, write_text

SMALL = "200k"  # the tmpfs: less than any artifact below needs


def mount(*args: str) -> None:
    """Run `mount ARGS`; skip the test when this machine cannot (not root, no mount command, no tmpfs)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    try:
        result = subprocess.run(["mount", *args], capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no mount command")
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.strip()}")


@pytest.fixture
def small_fs(tmp_path) -> Iterator[Path]:
    """A 200 kB tmpfs, unmounted after the test."""
    fs = tmp_path / "small"
    fs.mkdir()
    mount("-t", "tmpfs", "-o", f"size={SMALL}", "tmpfs", str(fs))
    try:
        yield fs
    finally:
        subprocess.run(["umount", str(fs)], check=True)


def no_space_message(path: Path, folder: Path) -> str:
    """The pattern of the error for `path` on a full device, `folder` its folder."""
    free = rf"\d+\.\d MB free in {re.escape(str(folder))}"
    return rf"^cannot write {re.escape(str(path))}: no space left on device \({free}\)$"


def temporary_files(fs: Path) -> list[Path]:
    return list(fs.rglob(".*.tmp"))


def stage_config() -> dict:
    """A tiny stage-one run on 8x8 images whose resume state, codes and checkpoint outgrow the small tmpfs."""
    return validated_config(
        seed=2,
        device="cpu",
        checkpoint_every=1,
        network={"hidden": [256], "n_latent": 16},
        stage1={"epochs": 2, "batch_size": 20},
    )


def binarized_data(tmp_path: Path) -> Path:
    """The data stage's file for 100 train, 20 valid and 20 test random 8x8 images, on the ordinary disk."""
    rng = np.random.default_rng(0)
    images = tmp_path / "images.npz"
    np.savez(images, x_train=rng.random((100, 64)), x_valid=rng.random((20, 64)), x_test=rng.random((20, 64)))
    config = validated_config(dataset="file", data_path=str(images), seed=2, data={"n_valid": 20, "n_test": 20})
    data = tmp_path / "data.h5"
    stages.binarize(config, data=str(data), threads=1)
    return data


def test_a_stage_on_a_full_disk_names_the_disk_and_a_rerun_after_freeing_space_completes(tmp_path, small_fs):
    data = binarized_data(tmp_path)
    out = small_fs / "stage1"
    outputs = [str(out / name) for name in ("autoencoder.pt", "codes.h5", "autoencoder.state.pt")]
    files = dict(zip(("checkpoint", "codes", "state"), outputs, strict=True))
    with pytest.raises(ArtifactWriteError) as failure:
        stages.pretrain_autoencoder(stage_config(), data=str(data), **files, threads=1)
    assert any(re.match(no_space_message(Path(o), out), str(failure.value)) for o in outputs), str(failure.value)
    assert temporary_files(small_fs) == []

    mount("-o", "remount,size=50m", str(small_fs))
    stages.pretrain_autoencoder(stage_config(), data=str(data), **files, threads=1)
    ckpt, codes, state = map(Path, outputs)
    assert set(load_checkpoint(ckpt)) >= {"encoder", "decoder", "image"}
    assert read_h5(codes, ["z_train"])["z_train"].shape == (100, 16)
    assert not state.exists() and temporary_files(small_fs) == []


def big_figure(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 8))
    ax.imshow(np.random.default_rng(0).random((400, 400)))
    plots.save(fig, path)


WRITERS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "table": ("metrics.csv", lambda p: write_text(p, "0.5,\n" * 100_000)),
    "hdf5": ("codes.h5", lambda p: write_h5(p, {"z": np.random.default_rng(0).random((300, 200))})),
    "checkpoint": ("model.pt", lambda p: save_checkpoint(p, {"w": torch.rand(100_000)}, {"seed": 1})),
    "figure": ("samples.png", big_figure),
}


@pytest.mark.parametrize("writer", WRITERS)
def test_every_artifact_write_on_a_full_disk_says_so_and_leaves_no_temporary_file(small_fs, writer):
    name, write = WRITERS[writer]
    path = small_fs / name
    with pytest.raises(ArtifactWriteError, match=no_space_message(path, small_fs)) as failure:
        write(path)
    assert isinstance(failure.value, OSError) and failure.value.__cause__ is not None
    assert list(small_fs.iterdir()) == []


def test_a_writer_error_that_lost_its_errno_is_recognised_by_the_free_space(small_fs):
    """As torch's zip writer fails when it writes by name: a RuntimeError, the OS error gone."""
    path = small_fs / "model.pt"
    with pytest.raises(ArtifactWriteError, match=no_space_message(path, small_fs)) as failure:
        with atomic_path(path) as tmp:
            with contextlib.suppress(OSError):
                tmp.write_bytes(bytes(1_000_000))
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 422976 vs 422868")
    assert isinstance(failure.value.__cause__, RuntimeError)
    assert list(small_fs.iterdir()) == []


def test_a_read_only_file_system_gives_the_os_reason(small_fs):
    mount("-o", "remount,ro", str(small_fs))
    path = small_fs / "metrics.csv"
    with pytest.raises(ArtifactWriteError, match=f"^cannot write {re.escape(str(path))}: Read-only file system$"):
        write_text(path, "a,b\n")


def test_a_folder_without_write_permission_gives_the_os_reason(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes regardless of permissions")
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)
    path = folder / "metrics.csv"
    with pytest.raises(ArtifactWriteError, match=f"^cannot write {re.escape(str(path))}: Permission denied$"):
        write_text(path, "a,b\n")


@pytest.mark.parametrize("writer", ["hdf5", "checkpoint"])
def test_a_write_that_runs_out_of_space_leaves_the_previous_file_intact(small_fs, writer):
    name, write = WRITERS[writer]
    path = small_fs / name
    path.write_bytes(b"previous")
    with pytest.raises(ArtifactWriteError):
        write(path)
    assert path.read_bytes() == b"previous"
    assert list(small_fs.iterdir()) == [path]
