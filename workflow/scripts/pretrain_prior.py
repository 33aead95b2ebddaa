"""Stage two, one layer: an RBM fitted to the codes below it; writes checkpoint, curves and the next layer's codes."""

from binlatent import stages
from binlatent.paths import stack_top_units
from binlatent.script import declared_config, run_logged

run_logged(
    snakemake,
    lambda: stages.pretrain_prior(
        declared_config(snakemake),
        snakemake.input.codes,
        snakemake.output.checkpoint,
        snakemake.output.curves,
        snakemake.output.codes,
        snakemake.params.state,
        snakemake.threads,
        stack_top_units(snakemake.wildcards.stack),
    ),
)
