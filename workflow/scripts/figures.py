"""Figures and the results table for every model of the run."""

from binlatent import stages
from binlatent.script import run_logged

models = {
    name: {kind: snakemake.input[f"{name}_{kind}"] for kind in ("checkpoint", "curves", "evaluation", "metrics")}
    for name in snakemake.params.models
}
run_logged(
    snakemake,
    lambda: stages.figures_stage(
        snakemake.config,
        snakemake.input.data,
        snakemake.input.codes,
        snakemake.input.prior_curves,
        models,
        snakemake.output.figures,
        snakemake.threads,
    ),
)
