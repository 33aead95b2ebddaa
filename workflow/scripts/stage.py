"""Every rule's script: the stage function of the rule's name (binlatent.stages) on the job's files and params."""

from binlatent import stages
from binlatent.script import named_files, run_logged

files = {**named_files(snakemake.input), **named_files(snakemake.output)}
params = snakemake.params
run_logged(snakemake, lambda: stages.run(snakemake.rule, params.cfg, files, snakemake.threads, params.state))
