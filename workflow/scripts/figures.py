"""Figures, ablations and the results table for every model of the run."""

from binlatent import stages
from binlatent.paths import MODEL_FILES
from binlatent.script import declared_config, run_logged

models = {name: {kind: snakemake.input[f"{name}_{kind}"] for kind in MODEL_FILES} for name in snakemake.params.models}
seeds = list(snakemake.params.seeds)
runs = (  # every training seed's evaluation and metrics, by seed and model; the one run with one seed
    {
        seed: {
            name: {kind: snakemake.input[f"seed{seed}_{name}_{kind}"] for kind in ("evaluation", "metrics")}
            for name in models
        }
        for seed in seeds
    }
    if len(seeds) > 1
    else {seeds[0]: models}
)
run_logged(
    snakemake,
    lambda: stages.figures(
        declared_config(snakemake),
        snakemake.input.data,
        {label: snakemake.input[label] for label in snakemake.params.pretraining},
        models,
        snakemake.output.figures,
        runs,
        snakemake.threads,
    ),
)
