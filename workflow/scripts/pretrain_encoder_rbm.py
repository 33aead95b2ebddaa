"""One RBM of the stack that starts stage one: on the pixels or the RBM below; checkpoint, curves, next layer's data."""

from binlatent import stages
from binlatent.script import declared_config, run_logged

run_logged(
    snakemake,
    lambda: stages.pretrain_encoder_rbm(
        declared_config(snakemake),
        snakemake.input.data,
        snakemake.output.checkpoint,
        snakemake.output.curves,
        snakemake.output.codes,
        snakemake.params.state,
        snakemake.threads,
        snakemake.params.n_hidden,
    ),
)
