"""Figures, ablations and the results table for every model of the run."""

from binlatent import stages
from binlatent.paths import MODEL_FILES
from binlatent.script import declared_config, run_logged

models = {name: {kind: snakemake.input[f"{name}_{kind}"] for kind in MODEL_FILES} for name in snakemake.params.models}
run_logged(
    snakemake,
    lambda: stages.figures(
        declared_config(snakemake),
        snakemake.input.data,
        {label: snakemake.input[label] for label in snakemake.params.pretraining},
        models,
        snakemake.output.figures,
        snakemake.threads,
    ),
)
