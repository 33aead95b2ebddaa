"""configs/smoke.yaml through `snakemake --profile profiles/slurm` on a real single-node SLURM cluster: every rule
runs as its own SLURM job, sacct accounts for each, and the results equal the local run's.

Deselect with `-m "not slurm"`; skipped, with the reason, where the cluster cannot be brought up (see
tests/slurm_cluster.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from helpers import SMOKE_MODELS, metrics, snakemake
from slurm_cluster import Cluster, slurm_cluster, why_unavailable

UNAVAILABLE = why_unavailable()
pytestmark = [pytest.mark.slurm, pytest.mark.workflow, pytest.mark.skipif(bool(UNAVAILABLE), reason=UNAVAILABLE)]

RUN_TIMEOUT = 900  # seconds: a run that hangs (a status query that never succeeds) fails instead


@pytest.fixture
def cluster(tmp_path) -> Cluster:
    """A cluster with accounting (slurmdbd), so the plugin runs with its default settings: job status from sacct."""
    with slurm_cluster(tmp_path / "slurm-daemons") as running:
        yield running


def run_through_profile(cluster: Cluster, out: Path, *args: str) -> str:
    """Run the smoke config through profiles/slurm, naming partition and account on the command line as a user
    would; snakemake's log. The first status check comes after 1 s instead of 40 s: the smoke jobs take seconds."""
    resources = [f"slurm_partition={cluster.partition}"]
    if cluster.account:
        resources.append(f"slurm_account={cluster.account}")
    result = snakemake(
        *args, "--profile", "profiles/slurm", "--configfile", "configs/smoke.yaml", "--config", f"outdir={out}",
        "--slurm-init-seconds-before-status-checks", "1", "--slurm-logdir", str(out / "slurm_logs"),
        "--default-resources", *resources,
        env=cluster.env, timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-5000:] + cluster.logs()
    return result.stderr


def test_smoke_workflow_runs_as_slurm_jobs_with_the_local_results(smoke_run, cluster, tmp_path):
    out = tmp_path / "out"
    run_through_profile(cluster, out)

    fields = ["JobIDRaw", "State", "Partition", "Account", "Comment"]
    sacct = cluster.run("sacct", "--allocations", "--parsable2", "--noheader", f"--format={','.join(fields)}")
    accounted = pd.DataFrame([line.split("|") for line in sacct.splitlines()], columns=fields).set_index("JobIDRaw")
    expected = ["COMPLETED", cluster.partition, cluster.account]
    assert (accounted[["State", "Partition", "Account"]] == expected).all(axis=None), accounted
    logs = {path.stem: path.read_text() for path in (out / "logs").glob("*.log")}
    assert len(logs) == len(accounted) == 19
    for name, text in logs.items():  # a job's log names its SLURM job, whose comment names its rule and wildcards
        job_id = re.search(r"SLURM_JOB_ID=(\d+)", text).group(1)
        rule, _, wildcards = accounted.loc[job_id, "Comment"].removeprefix("rule_").partition("_wildcards_")
        assert name.startswith(rule) and name.endswith(wildcards), (name, rule, wildcards)

    for model in SMOKE_MODELS:
        pd.testing.assert_frame_equal(metrics(out, model), metrics(smoke_run, model))


def test_a_cluster_without_accounting_runs_jobs_with_the_squeue_variant(tmp_path):
    """The documented variant for clusters without slurmdbd: job status from squeue, which SLURM keeps showing a
    finished job for MinJobAge (here 300 s) seconds, at least three times the first check's delay."""
    out = tmp_path / "out"
    with slurm_cluster(tmp_path / "slurm-daemons", accounting=False) as cluster:
        log = run_through_profile(cluster, out, str(out / "data" / "digits.h5"), "--slurm-status-command", "squeue")
    assert "Falling back to 'sacct'" not in log
    assert re.search(r"SLURM_JOB_ID=\d+", (out / "logs" / "binarize.log").read_text())
