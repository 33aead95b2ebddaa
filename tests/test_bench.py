"""The benchmark suite loads: every part of bench/ imports against the library as it is now (a renamed function
must not leave `python bench/run.py` failing at its first line)."""

from __future__ import annotations

import subprocess
import sys

from helpers import REPO


def test_bench_run_loads_every_part():
    done = subprocess.run([sys.executable, "bench/run.py", "--help"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "--parts" in done.stdout and "decoder" in done.stdout
