"""Data stage: split and binarise the configured dataset into one HDF5 file."""

from binlatent import stages
from binlatent.script import run_logged

run_logged(snakemake, lambda: stages.binarize(snakemake.config, snakemake.output.data))
