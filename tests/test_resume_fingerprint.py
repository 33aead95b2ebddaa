"""A training job resumes only from a state that the same job started: a changed step size discards the state
(with a message saying what changed) and gives the clean run's result; an unchanged rerun still resumes."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import validated_config

from binlatent import stages
from binlatent.checkpoints import load_checkpoint
from binlatent.training import Checkpointer, fingerprint_changes, job_fingerprint
from binlatent.variants import ModelSpec

KILLED_RUN = """
import json, sys
from binlatent import stages
cfg, data, out, state = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
stages.finetune(cfg, data=data, checkpoint=out + "/model.pt", curves=out + "/curves.h5", state=state, threads=1)
"""


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> str:
    """The data stage's file of 300 random 6x6 binary images."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    images = (rng.random((300, 36)) < 0.3).astype(np.float64)
    np.savez(folder / "mine.npz", x_train=images[:240], x_test=images[240:])
    config = validated_config(dataset="file", data_path=str(folder / "mine.npz"), data={"n_valid": 40})
    stages.binarize(config, data=str(folder / "data.h5"), threads=1)
    return str(folder / "data.h5")


def finetune_config(lr: float, ema: float = 0.0) -> dict:
    network = {**validated_config()["network"], "n_latent": 6, "hidden": [16]}
    spec = ModelSpec("hybrid_scratch", "rbm", False, False, "vimco", 3, 5, lr, network=network)
    finetune = {**validated_config()["finetune"], "epochs": 8, "batch_size": 40, "n_chains": 20, "patience": 100}
    finetune["ema"] = ema
    return {"spec": spec.as_dict(), "finetune": finetune, "seed": 3, "device": "cpu", "checkpoint_every": 1}


def kill_after_first_checkpoint(cfg: dict, data: str, folder: Path, state: Path) -> None:
    """Run fine-tuning in another process and kill it (SIGKILL) once its first resume state is written."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cfg.json").write_text(json.dumps(cfg))
    args = [sys.executable, "-c", KILLED_RUN, str(folder / "cfg.json"), data, str(folder), str(state)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not state.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert state.exists() and not (folder / "model.pt").exists(), process.stderr.read().decode()[-2000:]


def trained(cfg: dict, data: str, folder: Path, state: Path) -> dict[str, torch.Tensor]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"checkpoint": str(folder / "model.pt"), "curves": str(folder / "curves.h5"), "state": str(state)}
    stages.finetune(cfg, data=data, **files, threads=1)
    assert not state.exists()
    return load_checkpoint(folder / "model.pt")["model"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_a_changed_step_discards_the_resume_state_and_an_unchanged_rerun_resumes(data_file, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="binlatent")
    state = tmp_path / ".state" / "finetune.pt"
    old, new = finetune_config(0.001), finetune_config(0.01)
    clean = trained(new, data_file, tmp_path / "clean", tmp_path / "clean.pt")

    kill_after_first_checkpoint(old, data_file, tmp_path / "old", state)
    changed = trained(new, data_file, tmp_path / "changed", state)
    assert "discarding resume state from a different configuration or code (spec.lr: 0.001 -> 0.01)" in caplog.text
    assert "resuming" not in caplog.text
    assert_same_weights(changed, clean)

    caplog.clear()
    kill_after_first_checkpoint(new, data_file, tmp_path / "again", state)
    resumed = trained(new, data_file, tmp_path / "resumed", state)
    assert "resuming from checkpoint at epoch" in caplog.text and "discarding" not in caplog.text
    assert_same_weights(resumed, clean)


def test_a_killed_run_with_a_moving_average_resumes_to_the_uninterrupted_weights(data_file, tmp_path):
    """The average of the weights travels in the resume state; the saved model is the average's, not the last
    step's weights."""
    state = tmp_path / ".state" / "finetune.pt"
    averaged = finetune_config(0.01, ema=0.9)
    clean = trained(averaged, data_file, tmp_path / "clean", tmp_path / "clean.pt")
    kill_after_first_checkpoint(averaged, data_file, tmp_path / "killed", state)
    assert_same_weights(trained(averaged, data_file, tmp_path / "resumed", state), clean)
    plain = trained(finetune_config(0.01), data_file, tmp_path / "plain", tmp_path / "plain.pt")
    assert any(not torch.equal(clean[name], plain[name]) for name in clean)


def test_the_fingerprint_covers_config_values_and_input_contents(tmp_path):
    data = tmp_path / "data.h5"
    data.write_bytes(b"one")
    cfg = {"finetune": {"lr": 0.1, "schedule": [[1.0, 10]]}, "seed": 1}
    before = job_fingerprint(cfg, {"data": data})
    data.write_bytes(b"two")
    after = job_fingerprint({**cfg, "seed": 2, "finetune": {"lr": 0.1, "schedule": [[1.0, 20]]}}, {"data": data})
    assert fingerprint_changes(before, after) == [
        "finetune.schedule: [[1.0, 10]] -> [[1.0, 20]]",
        "input data: contents changed",
        "seed: 1 -> 2",
    ]
    assert fingerprint_changes(before, job_fingerprint(cfg, {"data": tmp_path / "data.h5"})) != []
    assert fingerprint_changes(after, after) == []


def test_a_resume_state_written_by_other_code_is_discarded(tmp_path, caplog):
    """A job's params carry the digest of the code its stage runs (binlatent.code_digest): a state written by other
    code starts the job afresh, naming the change."""
    caplog.set_level(logging.INFO, logger="binlatent")
    state = tmp_path / "stage.pt"
    Checkpointer(state, 1, {"seed": 1, "code": "1a2b"}).maybe_save(0, lambda: {"weights": 0})
    assert Checkpointer(state, 1, {"seed": 1, "code": "1a2b"}).load()["weights"] == 0  # same code: resumes
    assert Checkpointer(state, 1, {"seed": 1, "code": "3c4d"}).load() is None and not state.exists()
    assert 'discarding resume state from a different configuration or code (code: "1a2b" -> "3c4d")' in caplog.text
