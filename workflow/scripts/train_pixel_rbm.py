"""The RBM-on-pixels baseline: trains with the stage-two schedule; writes the best checkpoint and curves."""

from binlatent import stages
from binlatent.script import declared_config, run_logged

run_logged(
    snakemake,
    lambda: stages.train_pixel_rbm(
        declared_config(snakemake),
        snakemake.input.data,
        snakemake.output.checkpoint,
        snakemake.output.curves,
        snakemake.params.state,
        snakemake.threads,
    ),
)
