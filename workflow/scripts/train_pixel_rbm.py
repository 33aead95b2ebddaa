"""The RBM-on-pixels baseline: trains with the stage-two schedule; writes the best checkpoint and curves."""

from binlatent import stages
from binlatent.script import run_logged
from binlatent.variants import ModelSpec

run_logged(
    snakemake,
    lambda: stages.pixel_rbm_stage(
        snakemake.config,
        ModelSpec(**snakemake.params.spec),
        snakemake.input.data,
        snakemake.output.checkpoint,
        snakemake.output.curves,
        snakemake.params.state,
        snakemake.threads,
    ),
)
