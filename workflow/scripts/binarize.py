"""Data stage: split and binarise the configured dataset into one HDF5 file."""

from binlatent import stages
from binlatent.script import declared_config, run_logged

run_logged(snakemake, lambda: stages.binarize(declared_config(snakemake), snakemake.output.data))
