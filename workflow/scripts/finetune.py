"""Joint training of one model on the importance-weighted bound; writes the best checkpoint and curves."""

from binlatent import stages
from binlatent.script import run_logged
from binlatent.variants import ModelSpec

run_logged(
    snakemake,
    lambda: stages.finetune_stage(
        snakemake.config,
        ModelSpec(**snakemake.params.spec),
        snakemake.input.data,
        snakemake.input.get("stage1"),
        snakemake.input.get("prior"),
        snakemake.output.checkpoint,
        snakemake.output.curves,
        snakemake.params.state,
        snakemake.threads,
    ),
)
