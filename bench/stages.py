"""Run every job of the workflow's plan in one process, without Snakemake, and time each.

For machines where Snakemake is not installed (a lent GPU box) and for per-stage timings:

    python bench/stages.py --configfile configs/smoke.yaml --device cuda --outdir results/stages

The jobs, their files and their params are the plan's (binlatent.plan), as the workflow's rules take them, so the
artifacts carry the same provenance as the workflow's. Configs are merged over config.yaml as Snakemake merges them
and validated by the workflow's schema. With --data that HDF5 file (written by the data stage) is copied into place
instead of running the data stage. With --reuse a job whose outputs all exist under --outdir is skipped (made by an
earlier run, here or by the workflow: carry them to another machine to run only what is missing there).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

try:
    import binlatent  # noqa: F401
except ImportError:  # running from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from binlatent import stages  # noqa: E402
from binlatent.configfiles import load_config  # noqa: E402
from binlatent.plan import Plan, flat  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def run(config: dict, data: str | None, threads: int, reuse: bool = False) -> dict[str, float]:
    """Every job of the plan in order; returns the wall time of each, in seconds, by job name. With `reuse`, a job
    whose output files all exist is skipped (the figures, a folder, are always made)."""
    plan = Plan(config)
    timings: dict[str, float] = {}
    if data and not Path(plan.data).exists():
        Path(plan.data).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data, plan.data)
    for job in plan.jobs:
        if (job.rule == "binarize" and Path(plan.data).exists()) or (
            reuse and all(Path(path).is_file() for path in flat(job.outputs.values()))  # the figures' folder: never
        ):
            logging.info("%s: reusing its outputs", job.name)
            continue
        t0 = time.perf_counter()
        stages.run(job.rule, job.params, job.files(), threads, job.state)
        timings[job.name] = time.perf_counter() - t0
        logging.info("%s took %.1f s", job.name, timings[job.name])
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", action="append", default=[])
    parser.add_argument("--device")
    parser.add_argument("--outdir")
    parser.add_argument("--data", help="an HDF5 file written by the data stage")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="skip a job whose outputs all exist")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    config = load_config(REPO, args.configfile, device=args.device, outdir=args.outdir)
    timings = run(config, args.data, args.threads, args.reuse)
    print(json.dumps({"device": config["device"], "stage_seconds": timings}, indent=2))
    print((Path(config["outdir"]) / "figures" / "results.md").read_text())


if __name__ == "__main__":
    main()
