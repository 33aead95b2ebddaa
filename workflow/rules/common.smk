"""Paths and resources shared by the rules: every artifact lives under config['outdir']."""

import os

OUT = config["outdir"]
MODELS = ["hybrid", "factorised"]
ENV = "../../envs/pipeline.yaml"


wildcard_constraints:
    model="|".join(MODELS),


def out(*parts):
    """A path under the run's output directory."""
    return os.path.join(OUT, *parts)


def log_path(name):
    return out("logs", f"{name}.log")


def benchmark_path(name):
    return out("benchmarks", f"{name}.tsv")


def resume_state(name):
    """Resumable training state: kept outside the rule's outputs, so a failed job's cleanup keeps it."""
    return out(".state", f"{name}.pt")


def resource(rule_name, key):
    """A resource of a rule from config['resources'], falling back to config['resources']['default']."""
    res = config["resources"]
    return res.get(rule_name, {}).get(key, res["default"][key])


def data_inputs(wildcards):
    """The user's data file is an input of the data stage, so editing it reruns the workflow."""
    return {"user_file": config["data_path"]} if config["dataset"] == "file" else {}


def prior_input(wildcards):
    """Only the hybrid starts from the stage-two RBM."""
    return (
        {"prior": rules.pretrain_prior.output.checkpoint}
        if wildcards.model == "hybrid"
        else {}
    )


def model_outputs(wildcards=None):
    """Every model's checkpoint, curves, evaluation and metrics, keyed for the figures script."""
    files = {}
    for name in MODELS:
        files[f"{name}_checkpoint"] = out(name, "model.pt")
        files[f"{name}_curves"] = out(name, "curves.h5")
        files[f"{name}_evaluation"] = out(name, "evaluation.h5")
        files[f"{name}_metrics"] = out(name, "metrics.csv")
    return files
