"""The tuning sweep's table, figure and chosen values (binlatent.tuning); the chosen values also go to the log."""

import logging
from pathlib import Path

from binlatent import tuning
from binlatent.script import run_logged


def write():
    out = snakemake.output
    tuning.write_tuning(
        snakemake.params.points,
        list(snakemake.input.curves),
        snakemake.params.models,
        out.table,
        out.markdown,
        out.figure,
        out.chosen,
    )
    logging.getLogger("binlatent").info("chosen values, for config.yaml:\n%s", Path(out.chosen).read_text())


run_logged(snakemake, write)
