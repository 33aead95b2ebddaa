"""The plan of jobs (binlatent.plan) that every rule takes its files and params from, and the helpers that wire
each rule to it (its outputs, log and benchmark as patterns of its wildcards, and per job its inputs and params).
"""

import re

from binlatent.plan import RULES, Plan, resource

PLAN = Plan(config)  # every job of this config's run
ENV = "../../envs/pipeline.yaml"


def one_of(names):
    """A wildcard constraint matching exactly these names; none at all when the list is empty."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def job(rule, wildcards):
    return PLAN.job(rule, dict(wildcards.items()))


def inputs_of(rule):
    """The input files of the rule's job with these wildcards, by name."""
    return lambda wildcards: job(rule, wildcards).inputs


def params_of(rule):
    """The config values the stage of the rule's job reads."""
    return lambda wildcards: job(rule, wildcards).params


def state_of(rule):
    """The resume state of the rule's job ('' for a rule that keeps none)."""
    return lambda wildcards: job(rule, wildcards).state or ""


def outputs_of(rule):
    """The rule's outputs by name, as patterns of its wildcards."""
    return PLAN.patterns(rule)["outputs"]


def log_of(rule):
    return PLAN.patterns(rule)["log"]


def benchmark_of(rule):
    return PLAN.patterns(rule)["benchmark"]


def constraints_of(rule):
    """Each wildcard of the rule matches only the values its jobs take, and a training seed is a number."""
    return {
        "seed": r"\d+",
        **{name: one_of(PLAN.values(rule, name)) for name in RULES[rule].wildcards},
    }


# snakemake --report groups the files of the figures directory by the stage they show.
REPORT_CATEGORIES = {
    "training_curves": "Training",
    "samples": "Trained models",
    "reconstructions": "Trained models",
    "ais_diagnostic": "Evaluation",
    "ablations": "Results",
    "results": "Results",
    "margins": "Results",
}


def report_category(wildcards):
    """The report category of a file of the figures directory: the stage it shows."""
    return REPORT_CATEGORIES[wildcards.name]
