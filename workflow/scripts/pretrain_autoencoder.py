"""Stage one: autoencoder with a noisy sigmoid code layer; writes the checkpoint and the codes."""

from binlatent import stages
from binlatent.script import run_logged

run_logged(
    snakemake,
    lambda: stages.pretrain_stage1(
        snakemake.config,
        snakemake.input.data,
        snakemake.output.checkpoint,
        snakemake.output.codes,
        snakemake.params.state,
        snakemake.threads,
    ),
)
