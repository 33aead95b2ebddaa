"""Atomic writes, provenance and safe checkpoint loading."""

from __future__ import annotations

import os
import traceback

import pytest
import torch

from binlatent.checkpoints import load_checkpoint, save_checkpoint
from binlatent.io import atomic_path, read_h5, read_h5_attrs, write_h5


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_h5_round_trip_with_provenance(tmp_path):
    path = tmp_path / "a.h5"
    write_h5(path, {"x": torch.arange(6).reshape(2, 3), "curves/loss": [1.0, 0.5]}, {"seed": 9, "k": [1, 2]})
    arrays, attrs = read_h5(path), read_h5_attrs(path)
    assert arrays["x"].tolist() == [[0, 1, 2], [3, 4, 5]] and arrays["curves/loss"].tolist() == [1.0, 0.5]
    assert attrs["seed"] == 9 and '"k": [1, 2]' in attrs["config"]
    assert {"git_revision", "library_versions"} <= set(attrs)


TORCH_ADVICE = "will likely succeed"  # torch's words for loading a refused file with weights_only=False


def test_checkpoints_load_with_weights_only_and_reject_corruption(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, {"w": torch.ones(3), "epoch": 4}, {"seed": 1})
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 4 and torch.equal(loaded["w"], torch.ones(3)) and '"seed": 1' in loaded["provenance"]
    for damaged in (path.read_bytes()[:50], b"not a checkpoint" * 4):  # truncated zip; not a zip (legacy format)
        path.write_bytes(damaged)
        with pytest.raises(ValueError, match="not a readable checkpoint .*; delete it and rerun the step") as err:
            load_checkpoint(path)
        assert TORCH_ADVICE not in shown(err.value)


class RunsCommand:
    """Pickles as a call of os.system."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_a_checkpoint_that_would_run_code_is_refused_without_advice_to_load_it_unsafely(tmp_path):
    path, ran = tmp_path / "m.pt", tmp_path / "ran"
    torch.save({"w": torch.ones(3), "x": RunsCommand(f"touch {ran}")}, path)
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    assert str(err.value) == (
        f"{path} contains objects that would run code when loaded ({os.system.__module__}.system), so it was refused; "
        "load it without the safe loader only if its origin is trusted"
    )
    assert not ran.exists()
    assert TORCH_ADVICE not in shown(err.value)


def shown(err: BaseException) -> str:
    """The traceback as Python prints it, chained exceptions included."""
    return "".join(traceback.format_exception(err))
