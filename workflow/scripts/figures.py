"""Figures, ablations and the results table for every model of the run."""

from binlatent import stages
from binlatent.script import run_logged

models = {
    name: {kind: snakemake.input[f"{name}_{kind}"] for kind in snakemake.params.model_files}
    for name in snakemake.params.models
}
run_logged(
    snakemake,
    lambda: stages.figures_stage(
        snakemake.config,
        snakemake.input.data,
        {label: snakemake.input[label] for label in snakemake.params.pretraining},
        models,
        snakemake.output.figures,
        snakemake.threads,
    ),
)
