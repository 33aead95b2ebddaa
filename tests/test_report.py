"""`snakemake --report` on the smoke run: one page with every figure and table of the run, each captioned and
grouped by stage, the run's configuration and every rule's runtime; building it reruns nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import SMOKE_MODELS, snakemake

pytestmark = pytest.mark.workflow

STAGES = {"Training", "Trained models", "Evaluation", "Results"}
RULES = {"binarize", "pretrain_encoder_rbm", "pretrain_autoencoder", "pretrain_prior", "finetune", "train_pixel_rbm",
         "evaluate", "figures"}  # fmt: skip


def embedded(html: str, name: str) -> Any:
    """A value the report embeds as JSON in `<script id=...> var NAME = ...; </script>`."""
    match = re.search(rf'<script id="[\w-]+">\s*var {name} = (.*?);\s*</script>', html, re.S)
    return json.loads(match.group(1))


def test_the_report_shows_every_figure_and_table_captioned_by_stage_with_config_and_runtimes(smoke_run, tmp_path):
    written = {path: path.stat().st_mtime_ns for path in smoke_run.rglob("*") if path.is_file()}
    report = tmp_path / "report.html"
    result = snakemake("--configfile", "configs/smoke.yaml", "--config", f"outdir={smoke_run}", "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    assert {path: path.stat().st_mtime_ns for path in smoke_run.rglob("*") if path.is_file()} == written
    html = report.read_text()

    results = {str(Path(path).relative_to(smoke_run)): entry for path, entry in embedded(html, "results").items()}
    figures = {f"figures/{p.name}" for p in (smoke_run / "figures").iterdir() if p.suffix in (".png", ".csv")}
    assert set(results) == figures | {f"{model}/metrics.csv" for model in SMOKE_MODELS}
    for path, entry in results.items():
        assert entry["caption"].strip() and entry["data_uri"].startswith("data:"), path
    png_captions = [entry["caption"] for path, entry in results.items() if path.endswith(".png")]
    assert len(set(png_captions)) == len(png_captions)  # each figure has a caption of its own
    assert "K = 50 samples" in results["figures/results.csv"]["caption"]  # captions quote the run's config

    assert set(embedded(html, "categories")) == STAGES
    config = re.sub(r"<[^>]+>", "", embedded(html, "workflow_desc"))  # the run's config, highlighted as YAML
    assert "seed: 7" in config and "n_latent: 12" in config
    assert {job["rule"] for job in embedded(html, "runtimes_spec")["data"]["values"]} == RULES
