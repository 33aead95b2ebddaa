"""The tuning sweep chooses each model on its own validation score; several seeds give the mean, the spread across
seeds and the reference's paired margins with the seeds that agree; both configs plan the jobs they should."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import REPO, SMOKE_MODELS, snakemake

from binlatent import margins, seeds, sweep, tuning
from binlatent.io import write_h5
from binlatent.results import format_results
from binlatent.stats import clustered_se
from binlatent.variants import finetune_config, model_specs

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())


def synthetic_grid() -> pd.DataFrame:
    """Two models whose best points differ: the hybrid's best is the small step, the IWAE's the large step with
    decay; the IWAE's scores are all below the hybrid's worst, so a choice on a shared score would go wrong."""
    rows = [
        ("hybrid", 0.0003, 0.0, -110.0),
        ("hybrid", 0.0003, 0.1, -105.0),
        ("hybrid", 0.001, 0.0, -112.0),
        ("hybrid", 0.001, 0.1, -108.0),
        ("iwae", 0.0003, 0.0, -130.0),
        ("iwae", 0.0003, 0.1, -129.0),
        ("iwae", 0.001, 0.0, -127.0),
        ("iwae", 0.001, 0.1, -125.0),
        ("rbm_pixels", 0.01, 0.0002, -140.0),
        ("rbm_pixels", 0.05, 0.0002, -135.0),
    ]
    grid = pd.DataFrame(rows, columns=["model", "lr", "weight_decay", "score"])
    return grid.assign(pixels=grid["model"] == "rbm_pixels")


def test_each_model_is_chosen_on_its_own_validation_score():
    chosen = tuning.chosen_values(tuning.choose(synthetic_grid()))
    assert chosen == {
        "hybrid": {"lr": 0.0003, "weight_decay": 0.1},
        "iwae": {"lr": 0.001, "weight_decay": 0.1},
        "rbm_pixels": {"lr": 0.05, "weight_decay": 0.0002},
    }


def test_the_config_snippet_keeps_each_models_entry_and_sets_the_pixel_rbm_section():
    grid = tuning.choose(synthetic_grid())
    models = {
        "hybrid": {"prior": "rbm", "lr": 0.0003},
        "iwae": {"prior": "gaussian"},
        "rbm_pixels": {"prior": "pixels"},
    }
    snippet = yaml.safe_load(tuning.config_snippet(grid, models, ["rbm_pixels"]))
    assert snippet["models"] == {
        "hybrid": {"prior": "rbm", "lr": 0.0003, "weight_decay": 0.1},
        "iwae": {"prior": "gaussian", "lr": 0.001, "weight_decay": 0.1},
    }
    assert snippet["pixel_rbm"] == {"lr": 0.05, "weight_decay": 0.0002}
    # pasted into config.yaml, the snippet resolves to the chosen values
    config = {**CONFIG, "models": {**CONFIG["models"], **snippet["models"]}}
    specs = model_specs(config)
    assert (specs["iwae"].lr, specs["iwae"].weight_decay) == (0.001, 0.1)


def test_best_score_reads_the_kept_epoch_of_either_kind_of_curve():
    bound = {"epoch": np.arange(1, 6), "valid_bound": np.array([np.nan, -120.0, np.nan, -118.0, -119.0])}
    assert tuning.best_score(bound) == {"score": -118.0, "score_kind": "valid_bound", "best_epoch": 4, "epochs_run": 5}
    pixels = {"valid_log_likelihood": np.array([-150.0, -140.0])}
    assert tuning.best_score(pixels)["score"] == -140.0
    with pytest.raises(ValueError, match="no validation score"):
        tuning.best_score({"train_bound": np.zeros(3)})


def test_grid_points_keep_a_models_own_value_where_a_list_is_empty():
    specs = model_specs(CONFIG)
    grid = {"lr": [0.001, 0.0003], "weight_decay": [], "pixel_rbm_lr": [], "pixel_rbm_weight_decay": []}
    assert sweep.grid_points(specs["hybrid"], grid, CONFIG["pixel_rbm"]) == [("0.001", "0.5"), ("0.0003", "0.5")]
    assert sweep.grid_points(specs["rbm_pixels"], grid, CONFIG["pixel_rbm"]) == [("0.1", "0.0002")]
    point = sweep.tuned_spec(specs["iwae"], "0.003", "0")
    assert finetune_config(CONFIG["finetune"], point)["weight_decay"] == 0.0
    assert finetune_config(CONFIG["finetune"], point)["lr"] == 0.003


def test_the_budget_gives_models_without_stage_one_the_pretraining_epochs():
    specs = model_specs(CONFIG)
    total = CONFIG["stage1"]["epochs"] + CONFIG["finetune"]["epochs"]
    assert specs["hybrid"].epochs == specs["factorised"].epochs == CONFIG["finetune"]["epochs"]
    assert specs["hybrid_scratch"].epochs == specs["iwae"].epochs == total
    assert finetune_config(CONFIG["finetune"], specs["iwae"])["epochs"] == total
    plain = model_specs({**CONFIG, "finetune": {**CONFIG["finetune"], "budget": "finetune_epochs"}})
    assert plain["iwae"].epochs == CONFIG["finetune"]["epochs"]


def test_a_models_weight_decay_overrides_the_sections():
    config = {**CONFIG, "models": {"iwae": {"prior": "gaussian", "weight_decay": 0.5}, "f": {"prior": "factorised"}}}
    specs = model_specs(config)
    assert specs["iwae"].weight_decay == 0.5 and specs["f"].weight_decay == CONFIG["finetune"]["weight_decay"]
    assert finetune_config(CONFIG["finetune"], specs["iwae"])["weight_decay"] == 0.5


def seed_rows() -> pd.DataFrame:
    """Metrics of two models on three seeds: the hybrid's test_ll -100, -102, -104 (sd 2), se 0.5, 0.5, 0.7."""
    rows = []
    for seed, ll, se in ((1, -100.0, 0.5), (2, -102.0, 0.5), (3, -104.0, 0.7)):
        run = {"seed": seed, "test_ll_se": se, "K": 100}
        check = {"log_z_reliable": seed != 2, "log_z_check": "ok" if seed != 2 else "ESS low"}
        rows.append({**run, **check, "model": "hybrid", "test_ll": ll, "test_ll_low": ll - 3, "test_ll_high": ll + 3,
                     "log_z": 50.0 + seed, "prior": "rbm", "pretraining": "stages 1+2"})  # fmt: skip
        rows.append({**run, "model": "iwae", "test_ll": ll - 1, "test_ll_low": ll - 5, "test_ll_high": ll + 1,
                     "log_z": 0.0, "prior": "gaussian", "pretraining": "none"})  # fmt: skip
    return pd.DataFrame(rows)


def test_seed_aggregation_gives_the_mean_the_spread_and_the_within_run_se():
    table = seeds.aggregate_seeds(seed_rows()).set_index("model")
    hybrid = table.loc["hybrid"]
    assert hybrid["n_seeds"] == 3 and hybrid["test_ll"] == pytest.approx(-102.0)
    assert hybrid["test_ll_seed_sd"] == pytest.approx(2.0)
    assert hybrid["test_ll_se"] == pytest.approx(math.sqrt((0.25 + 0.25 + 0.49) / 3))
    assert (hybrid["test_ll_low"], hybrid["test_ll_high"]) == (-107.0, -97.0)  # holds every seed's interval
    assert not hybrid["log_z_reliable"] and hybrid["log_z_check"] == "seed 2: ESS low"
    assert list(table.index) == ["hybrid", "iwae"]
    pretty = format_results(table.reset_index().assign(source="this workflow"))
    assert list(pretty["seeds"]) == ["3", "3"] and list(pretty["spread across seeds (sd)"]) == ["2.00", "2.00"]


def test_one_seed_adds_no_seed_columns():
    one = seeds.aggregate_seeds(seed_rows().query("seed == 1"))
    assert "test_ll_seed_sd" not in one.columns and one["n_seeds"].tolist() == [1, 1]
    pretty = format_results(one.assign(source="this workflow"))
    assert "seeds" not in pretty.columns and "spread across seeds (sd)" not in pretty.columns


def test_paired_margins_use_the_same_images_and_both_log_z_intervals():
    rng = np.random.default_rng(0)
    other = rng.normal(-100, 10, 400)
    reference = other + 60 + rng.normal(0, 1, 400)  # unnormalised: ahead by 60 before log Z
    ref_metrics = {"log_z": 58.0, "log_z_interval_low": 57.5, "log_z_interval_high": 59.0}
    margin = margins.paired_margin(reference, other, ref_metrics, {"log_z": 0.0})
    diff = reference - other
    assert margin["margin"] == pytest.approx(diff.mean() - 58.0)
    assert margin["se"] == pytest.approx(diff.std(ddof=1) / 20)  # the paired SE: far below either model's own
    assert margin["low"] == pytest.approx(margin["margin"] - 3 * margin["se"] - 1.0)
    assert margin["high"] == pytest.approx(margin["margin"] + 3 * margin["se"] + 0.5)
    with pytest.raises(ValueError, match="same test images"):
        margins.paired_margin(reference, other[:10], ref_metrics, {})


def block_correlated_estimates(n_blocks: int = 20, per_block: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two models' per-image estimates whose differences share a large effect per block (sd 2 across blocks, 0.5
    within), and each image's block: (reference, other, blocks)."""
    rng = np.random.default_rng(2)
    blocks = np.repeat(rng.permutation(100)[:n_blocks], per_block)  # labels need not be 0..G-1
    other = rng.normal(-100, 10, len(blocks))
    lead = rng.normal(0, 2, 100)[blocks] + rng.normal(0, 0.5, len(blocks))
    return other + 1.0 + lead, other, blocks


def test_paired_margins_cluster_their_standard_error_by_block_when_blocks_are_known():
    reference, other, blocks = block_correlated_estimates()
    metrics = {"log_z": 0.0}
    iid = margins.paired_margin(reference, other, metrics, metrics)
    clustered = margins.paired_margin(reference, other, metrics, metrics, blocks)
    diff = reference - other
    assert iid["se"] == pytest.approx(diff.std(ddof=1) / 20)  # unchanged without blocks
    assert clustered["se"] == pytest.approx(clustered_se(diff, blocks))
    assert clustered["se"] > 3 * iid["se"]  # 20 blocks, not 400 independent images
    assert clustered["margin"] == iid["margin"]
    assert (clustered["low"], clustered["high"]) == pytest.approx(
        (clustered["margin"] - 3 * clustered["se"], clustered["margin"] + 3 * clustered["se"])
    )
    singletons = margins.paired_margin(reference, other, metrics, metrics, np.arange(len(diff)))
    assert singletons["se"] == pytest.approx(iid["se"])  # one image per block: the iid standard error
    with pytest.raises(ValueError, match="a block per test image"):
        margins.paired_margin(reference, other, metrics, metrics, blocks[:-1])


@pytest.mark.parametrize("with_blocks", [False, True])
def test_the_margins_note_says_when_the_standard_error_is_clustered_by_block(with_blocks, tmp_path):
    reference, other, blocks = block_correlated_estimates()
    runs = {1: {}}
    for name, estimates in (("hybrid", reference), ("iwae", other)):
        paths = {"evaluation": tmp_path / f"{name}.h5", "metrics": tmp_path / f"{name}.csv"}
        write_h5(paths["evaluation"], {margins.PER_IMAGE: estimates})
        pd.DataFrame([{"model": name, "log_z": 0.0}]).to_csv(paths["metrics"], index=False)
        runs[1][name] = paths
    summary = margins.write_margins(
        runs, "hybrid", tmp_path / "margins.csv", tmp_path / "margins.md", blocks if with_blocks else None
    )
    note = (tmp_path / "margins.md").read_text()
    assert ("clustered by the 20 blocks" in note) == with_blocks
    assert ("paired SE (clustered by block)" in note) == with_blocks
    diff = reference - other
    expected = clustered_se(diff, blocks) if with_blocks else diff.std(ddof=1) / 20
    assert summary["se"].iloc[0] == pytest.approx(expected)


def test_margin_summary_counts_the_seeds_that_agree():
    rng = np.random.default_rng(1)
    runs = {}
    for seed, lead in ((1, 2.0), (2, 0.5), (3, -1.0)):
        other = rng.normal(-100, 5, 300)
        runs[seed] = {
            "hybrid": (other + lead + rng.normal(0, 0.5, 300), {"log_z": 0.0}),
            "iwae": (other, {"log_z": 0.0}),
        }
    per_seed = margins.paired_margins(runs, "hybrid")
    assert list(per_seed["seed"]) == [1, 2, 3]
    summary = margins.margin_summary(per_seed).iloc[0]
    assert summary["n_seeds"] == 3 and summary["seeds_ahead"] == 2 and summary["seeds_interval_above_0"] == 2
    assert summary["margin"] == pytest.approx(per_seed["margin"].mean())
    assert summary["seed_sd"] == pytest.approx(per_seed["margin"].std(ddof=1))
    assert margins.claim(summary, "hybrid") == "hybrid ahead in 2 of 3 seeds (interval above 0 in 2)"
    behind = {**summary.to_dict(), "seeds_ahead": 0, "seeds_interval_below_0": 1}
    assert margins.claim(behind, "hybrid") == "hybrid behind in 3 of 3 seeds (interval below 0 in 1)"


def planned_logs(*configfiles: str, out) -> list[str]:
    """The log path of every job `snakemake -n` plans for the smoke config with `configfiles` over it."""
    result = snakemake("-n", "--configfile", "configs/smoke.yaml", *configfiles, "--config", f"outdir={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    return [path.removeprefix(f"{out}/") for path in re.findall(r"log: (\S+)\.log", result.stdout + result.stderr)]


@pytest.mark.workflow
def test_the_tuning_overlay_plans_one_job_per_model_and_grid_point(tmp_path):
    logs = planned_logs("tests/configs/tuning_smoke.yaml", out=tmp_path)
    latent = [m for m in SMOKE_MODELS if m != "rbm_pixels"]
    points = [f"logs/tune_{m}_lr{lr}_wd{wd}" for m in latent for lr in ("0.001", "0.003") for wd in ("0", "0.1")]
    points += [f"logs/tune_rbm_pixels_lr{lr}_wd0.0002" for lr in ("0.01", "0.05")]
    assert sorted(log for log in logs if "/tune_" in log) == sorted(points)
    assert len(logs) == len(set(logs))
    # no test-set evaluation and no default figures in the sweep; its pretraining is the default run's
    pretraining = {"pretrain_encoder_rbm1", "pretrain_encoder_rbm2", "pretrain_autoencoder_rbm_stack-mirrored",
                   "pretrain_prior_rbm_stack-mirrored_h16", "pretrain_prior_rbm_stack-mirrored_h16-h8"}  # fmt: skip
    assert set(logs) - set(points) == {"logs/binarize", "logs/tuning_table", *{f"logs/{j}" for j in pretraining}}


@pytest.mark.workflow
def test_two_seeds_plan_every_model_twice_and_the_data_once(tmp_path):
    logs = planned_logs("tests/configs/seeds_smoke.yaml", out=tmp_path)
    assert logs.count("logs/binarize") == 1 and logs.count("logs/figures") == 1
    per_seed = {"pretrain_encoder_rbm1", "pretrain_encoder_rbm2", "pretrain_autoencoder_rbm_stack-mirrored",
                "pretrain_prior_rbm_stack-mirrored_h16", "pretrain_prior_rbm_stack-mirrored_h16-h8",
                "train_pixel_rbm_rbm_pixels"}  # fmt: skip
    per_seed |= {f"finetune_{m}" for m in SMOKE_MODELS if m != "rbm_pixels"} | {f"evaluate_{m}" for m in SMOKE_MODELS}
    expected = {f"seed{s}/logs/{job}" for s in (1, 2) for job in per_seed}
    assert sorted(set(logs) - {"logs/binarize", "logs/figures"}) == sorted(expected)
    assert len(logs) == len(expected) + 2
