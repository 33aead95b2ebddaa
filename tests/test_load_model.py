"""Self-describing checkpoints: `binlatent.load_model` rebuilds every kind of model from its file alone, and a
model trained by the workflow reproduces the evaluation's test log-likelihood in a fresh process with no config."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from helpers import SMALL_NETWORK, SMOKE_MODELS, built_model

from binlatent import load_model
from binlatent.image import ImageFormat
from binlatent.models import save_model
from binlatent.variants import ModelSpec

NETWORK = {**SMALL_NETWORK, "n_latent": 6, "hidden": [16]}
IMAGE = ImageFormat((4, 4), "binary")
SPECS = {
    "rbm": ModelSpec("hybrid", "rbm", True, True, "vimco", 3, 5, 1e-3, network=NETWORK),
    "factorised": ModelSpec("factorised", "factorised", True, False, "vimco", 3, 0, 1e-3, network=NETWORK),
    "gaussian": ModelSpec("iwae", "gaussian", False, False, "reparam", 3, 0, 1e-3, network=NETWORK),
    "pixels": ModelSpec("rbm_pixels", "pixels", False, False, "", 0, 7, 0.0),
}


@pytest.mark.parametrize("kind", list(SPECS))
def test_a_checkpoint_rebuilds_its_model_without_the_config(kind, tmp_path, generator):
    torch.manual_seed(3)
    model = built_model(SPECS[kind], IMAGE)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator))  # weights unlike any fresh model's
    save_model(tmp_path / "model.pt", model, model.state_dict(), 12.5, {"seed": 1})
    torch.manual_seed(99)  # a different fresh initialisation: only the file can give the weights back
    loaded = load_model(tmp_path / "model.pt")
    assert type(loaded) is type(model) and loaded.spec == SPECS[kind] and loaded.image == IMAGE
    assert loaded.train_seconds == 12.5
    for (name, p), (_, q) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(p, q), name
    x = (torch.rand(5, IMAGE.n_pixels, generator=generator) < 0.5).float()
    same = [torch.Generator().manual_seed(4) for _ in range(2)]
    a, b = (m.log_likelihood(x, K=4, ais={"runs": 5, "schedule": [[1.0, 20]]}, generator=g) for m, g in
            zip((model, loaded), same, strict=True))  # fmt: skip
    np.testing.assert_array_equal(a.per_image, b.per_image)
    samples = loaded.sample(3, gibbs_steps=2, generator=generator)
    assert samples.shape == (3, IMAGE.n_pixels) and 0 <= samples.min() and samples.max() <= 1


FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import h5py, torch
    from binlatent import load_model

    run, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with h5py.File(f"{run}/data/digits.h5") as f:
        x_test, x_train = f["x_test"][:n], f["x_train"][()]
    model = load_model(f"{run}/{name}/model.pt")
    samples = model.sample(16, gibbs_steps=10, generator=torch.Generator().manual_seed(0))
    ll = model.log_likelihood(
        x_test, K=50, x_base=x_train, ais={"runs": 50, "schedule": [[0.5, 100], [0.9, 300], [1.0, 600]]},
        generator=torch.Generator().manual_seed(1),
    )
    print(json.dumps({
        "samples": list(samples.shape), "low": float(samples.min()), "high": float(samples.max()),
        "per_image": ll.per_image.tolist(), "log_z": [ll.log_z.value, ll.log_z.low, ll.log_z.high],
    }))
    """
)


@pytest.mark.workflow
@pytest.mark.parametrize("name", SMOKE_MODELS)
def test_a_trained_model_reproduces_its_evaluation_in_a_fresh_process(name, smoke_run, tmp_path):
    import h5py

    n = 40
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(smoke_run), name, str(n)],
        cwd=tmp_path,  # no config file in reach
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["samples"] == [16, 784] and 0 <= out["low"] and out["high"] <= 1
    with h5py.File(smoke_run / name / "evaluation.h5") as f:
        evaluated = f["per_image_unnormalised_ll"][:n] - f.attrs["log_z"]
    ours = np.array(out["per_image"])
    # the same images, independent draws from q and an independent AIS: equal within their standard errors
    diff = ours - evaluated
    se = diff.std(ddof=1) / np.sqrt(n)
    log_z_halfwidth = (out["log_z"][2] - out["log_z"][1]) / 2
    assert abs(diff.mean()) <= 4 * se + log_z_halfwidth + 1e-9, (diff.mean(), se, log_z_halfwidth)
