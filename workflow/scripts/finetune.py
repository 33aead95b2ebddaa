"""Joint training of one model on the importance-weighted bound; writes the best checkpoint and curves."""

from binlatent import stages
from binlatent.script import declared_config, run_logged

run_logged(
    snakemake,
    lambda: stages.finetune(
        declared_config(snakemake),
        snakemake.input.data,
        snakemake.input.get("stage1"),
        list(snakemake.input.get("prior", [])),
        snakemake.output.checkpoint,
        snakemake.output.curves,
        snakemake.params.state,
        snakemake.threads,
    ),
)
