"""Evaluation: importance-sampled test log-likelihood, AIS / reverse / exact log Z; HDF5 and CSV."""

from binlatent import stages
from binlatent.script import declared_config, run_logged

run_logged(
    snakemake,
    lambda: stages.evaluate(
        declared_config(snakemake),
        snakemake.input.data,
        snakemake.input.checkpoint,
        snakemake.output.evaluation,
        snakemake.output.metrics,
        snakemake.threads,
    ),
)
