"""Paths, params and resources shared by the rules: every artifact lives under config['outdir'], laid out by
binlatent.paths; each rule's params name the config sections its job reads."""

import re

from binlatent.datasets.base import DOWNLOADED
from binlatent.paths import MODEL_FILES, Layout, stack_below, stack_prefixes
from binlatent.pretrain import layer_settings
from binlatent.variants import model_specs

RESULTS = Layout(config["outdir"])
SPECS = model_specs(
    config
)  # name -> ModelSpec: what each model trains from (see config['models'])
MODELS = list(SPECS)
LATENT_MODELS = [name for name, spec in SPECS.items() if spec.prior != "pixels"]
PIXEL_MODELS = [name for name, spec in SPECS.items() if spec.prior == "pixels"]
USES_STAGE1 = any(spec.stage1 for spec in SPECS.values())
PRIOR_STACKS = sorted(
    {
        stack
        for spec in SPECS.values()
        if spec.stage2
        for stack in stack_prefixes(spec.prior_layers)
    }
)  # every layer the models' stage-two stacks need, once: h100, h100-h50, ...
ENV = "../../envs/pipeline.yaml"


def one_of(names):
    """A wildcard constraint matching exactly these names; none at all when the list is empty."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


wildcard_constraints:
    model=one_of(MODELS),
    stack=r"h\d+(-h\d+)*",


def resource(rule_name, key):
    """A resource of a rule from config['resources'], falling back to config['resources']['default']."""
    res = config["resources"]
    return res.get(rule_name, {}).get(key, res["default"][key])


def data_path_read():
    """config['data_path'] where the dataset reads it (file, mnist, cifar10); else '' so that it reruns nothing."""
    return config["data_path"] if config["dataset"] in ("file", *DOWNLOADED) else ""


def data_inputs(wildcards):
    """The user's data file is an input of the data stage, so editing it reruns the workflow.

    The root directory of mnist or cifar10 is not: torchvision downloads into it, and the data stage reads it.
    """
    return {"user_file": config["data_path"]} if config["dataset"] == "file" else {}


def pretrained_inputs(wildcards):
    """The pretrained parts a model starts from: the stage-one autoencoder, the stage-two RBM."""
    spec = SPECS[wildcards.model]
    files = {}
    if spec.stage1:
        files["stage1"] = rules.pretrain_autoencoder.output.checkpoint
    if spec.stage2:
        files["prior"] = [
            RESULTS.prior(stack) for stack in stack_prefixes(spec.prior_layers)
        ]
    return files


def layer_below_codes(wildcards):
    """The data of the prior layer `stack`: the stage-one codes for the first, else the layer below's hidden
    units."""
    below = stack_below(wildcards.stack)
    return (
        RESULTS.prior_codes(below) if below else rules.pretrain_autoencoder.output.codes
    )


def prior_layer_config(wildcards):
    """The training settings of the prior layer `stack` (binlatent.pretrain.layer_settings)."""
    return layer_settings(config["prior"], wildcards.stack.count("-"))


def model_spec(wildcards):
    return SPECS[wildcards.model].as_dict()


def model_outputs(wildcards=None):
    """Every model's checkpoint, curves, evaluation and metrics, keyed for the figures script."""
    return {
        f"{name}_{kind}": RESULTS.model(name, kind)
        for name in MODELS
        for kind in MODEL_FILES
    }


def pretraining_curves(wildcards=None):
    """Curves of the pretraining stages the run's models use, keyed stage1, stage2_<stack>."""
    files = {}
    if USES_STAGE1:
        files["stage1"] = rules.pretrain_autoencoder.output.codes
    for stack in PRIOR_STACKS:
        files[f"stage2_{stack}"] = RESULTS.prior_curves(stack)
    return files


# snakemake --report groups the files of the figures directory by the stage they show.
REPORT_CATEGORIES = {
    "training_curves": "Training",
    "samples": "Trained models",
    "reconstructions": "Trained models",
    "ais_diagnostic": "Evaluation",
    "ablations": "Results",
    "results": "Results",
}


def report_category(wildcards):
    """The report category of a file of the figures directory: the stage it shows."""
    return REPORT_CATEGORIES[wildcards.name]
