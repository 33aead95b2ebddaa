"""Stage two: an RBM prior of n_hidden hidden units fitted to the stage-one codes; writes checkpoint and curves."""

from binlatent import stages
from binlatent.script import declared_config, run_logged

run_logged(
    snakemake,
    lambda: stages.pretrain_prior(
        declared_config(snakemake),
        snakemake.input.codes,
        snakemake.output.checkpoint,
        snakemake.output.curves,
        snakemake.params.state,
        snakemake.threads,
        int(snakemake.wildcards.n_hidden),
    ),
)
