"""Stage one: autoencoder with a noisy sigmoid code layer; writes the checkpoint and the codes."""

from binlatent import stages
from binlatent.script import declared_config, run_logged

run_logged(
    snakemake,
    lambda: stages.pretrain_autoencoder(
        declared_config(snakemake),
        snakemake.input.data,
        snakemake.output.checkpoint,
        snakemake.output.codes,
        snakemake.params.state,
        snakemake.threads,
        list(snakemake.input.get("rbms", [])),
    ),
)
