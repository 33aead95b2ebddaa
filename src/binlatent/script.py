"""Helpers for the workflow's script adapter (workflow/scripts/stage.py): the job's files by name, and logging to
the rule's log file with failures reported there too."""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

log = logging.getLogger("binlatent")


def host() -> str:
    """This machine's name, and the SLURM job when the rule runs in one."""
    job = os.environ.get("SLURM_JOB_ID")
    return socket.gethostname() + (f" (SLURM_JOB_ID={job})" if job else "")


def run_logged(snakemake: Any, job: Callable[[], None]) -> None:
    """Run `job` with logging to snakemake.log[0]; a failure is logged with its message and re-raised."""
    logging.basicConfig(
        filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True
    )
    log.info(
        "rule %s on %s: inputs %s -> outputs %s", snakemake.rule, host(), list(snakemake.input), list(snakemake.output)
    )
    try:
        job()
    except Exception as err:
        log.error("%s: %s", type(err).__name__, err)
        print(f"ERROR in rule {snakemake.rule}: {err} (log: {snakemake.log[0]})", file=sys.stderr)
        raise
    log.info("rule %s finished", snakemake.rule)


def named_files(files: Any) -> dict[str, Any]:
    """Snakemake's named inputs or outputs as a dict: a path, or a list of paths."""
    return {name: value if isinstance(value, str) else list(value) for name, value in files.items()}
