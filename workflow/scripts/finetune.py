"""Joint fine-tuning of one model on the importance-weighted bound; writes the best checkpoint and curves."""

from binlatent import stages
from binlatent.script import run_logged

run_logged(
    snakemake,
    lambda: stages.finetune_stage(
        snakemake.config,
        snakemake.wildcards.model,
        snakemake.input.data,
        snakemake.input.stage1,
        snakemake.input.codes,
        snakemake.input.get("prior"),
        snakemake.output.checkpoint,
        snakemake.output.curves,
        snakemake.params.state,
        snakemake.threads,
    ),
)
