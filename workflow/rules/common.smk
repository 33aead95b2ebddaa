"""Paths, params and resources shared by the rules: every artifact lives under config['outdir'], laid out by
binlatent.paths; each rule's params name the config sections its job reads."""

import re

from binlatent.datasets.base import DOWNLOADED
from binlatent.paths import (
    MODEL_FILES,
    Layout,
    stack_below,
    stack_prefixes,
    stage1_variant,
    stage1_variants,
    variant_parts,
)
from binlatent.pretrain import layer_settings
from binlatent.rbm_stack import check_config, hidden_units
from binlatent.tuning import grid_points, is_on, tuned_pixel_rbm, tuned_spec
from binlatent.variants import (
    default_decoder,
    model_network,
    model_specs,
    stage1_variant_of,
)

RESULTS = Layout(config["outdir"])
SEEDS = config["seeds"] or [
    config["seed"]
]  # the training seeds; the data stage uses config['seed']
SEEDED = len(SEEDS) > 1
RUN = (
    RESULTS.seeded("{seed}") if SEEDED else RESULTS
)  # where a training seed's pretraining, models, logs and state go: <outdir>/seed<N>/ with several seeds
FIRST = (
    RESULTS.seeded(SEEDS[0]) if SEEDED else RESULTS
)  # the first seed's run: the samples, reconstructions and curves of the figures
TUNING = is_on(config["tuning"])  # the run is the tuning sweep (configs/tuning.yaml)
SPECS = model_specs(
    config
)  # name -> ModelSpec: what each model trains from (see config['models'])
MODELS = list(SPECS)
LATENT_MODELS = [name for name, spec in SPECS.items() if spec.prior != "pixels"]
PIXEL_MODELS = [name for name, spec in SPECS.items() if spec.prior == "pixels"]
STAGE1_VARIANTS = sorted(
    {stage1_variant_of(spec, config) for spec in SPECS.values() if spec.stage1}
)  # the stage-one autoencoders the models start from: '' (random start), '-rbm_stack', and with a decoder other
# than network.decoder '-autoregressive', '-rbm_stack-autoregressive' (or '-mirrored', ...)
PRIOR_STACKS = sorted(
    {
        (stage1_variant_of(spec, config), stack)
        for spec in SPECS.values()
        if spec.stage2
        for stack in stack_prefixes(spec.prior_layers)
    }
)  # every layer the models' stage-two stacks need, once, with the stage one under it: ('', 'h100'), ...
STACK_STARTED = any(
    variant_parts(v)[0] == "rbm_stack" for v in STAGE1_VARIANTS
)  # some stage one starts from the RBM stack (one stack, whatever the decoder)
if STACK_STARTED:
    check_config(config["network"], config["dataset"])
ENCODER_RBM_UNITS = hidden_units(
    config["network"]
)  # hidden units of each RBM of the stack that starts stage one (stage1.init: rbm_stack)
ENV = "../../envs/pipeline.yaml"


def one_of(names):
    """A wildcard constraint matching exactly these names; none at all when the list is empty."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


wildcard_constraints:
    model=one_of(MODELS),
    seed=r"\d+",
    lr=r"\d[0-9.e+-]*",
    wd=r"\d[0-9.e+-]*",
    stack=r"h\d+(-h\d+)*",
    variant=one_of(stage1_variants(default_decoder(config))),
    layer=r"\d+",


def run_of(wildcards):
    """The layout of the training seed a job belongs to (its {seed}, else the first seed: the tuning sweep)."""
    return RESULTS.seeded(getattr(wildcards, "seed", SEEDS[0])) if SEEDED else RESULTS


def training_seed(wildcards):
    """The seed of a training or evaluation job: its {seed} with several seeds, else the one seed."""
    return int(getattr(wildcards, "seed", SEEDS[0])) if SEEDED else SEEDS[0]


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
    """The pretrained parts a model starts from: the stage-one autoencoder, the stage-two RBMs of its prior."""
    spec, run = SPECS[wildcards.model], run_of(wildcards)
    variant = stage1_variant_of(spec, config)
    files = {}
    if spec.stage1:
        files["stage1"] = run.autoencoder(variant)
    if spec.stage2:
        files["prior"] = [
            run.prior(stack, variant) for stack in stack_prefixes(spec.prior_layers)
        ]
    return files


def autoencoder_inputs(wildcards):
    """Stage one's data, and the RBM stack it starts from when its variant starts -rbm_stack."""
    files = {"data": rules.binarize.output.data}
    if variant_parts(wildcards.variant)[0] == "rbm_stack":
        files["rbms"] = [
            run_of(wildcards).encoder_rbm(i + 1) for i in range(len(ENCODER_RBM_UNITS))
        ]
    return files


def encoder_rbm_data(wildcards):
    """The data of RBM {layer} of the stage-one stack: the pixels, else the hidden units of the RBM below."""
    layer = int(wildcards.layer)
    if layer > 1:
        return run_of(wildcards).encoder_rbm(layer - 1, "codes.h5")
    return rules.binarize.output.data


def variant_network(wildcards):
    """config['network'] with the decoder of stage one's {variant}: the networks that stage one trains."""
    decoder = variant_parts(wildcards.variant)[1] or default_decoder(config)
    return {**config["network"], "decoder": decoder}


def model_network_config(wildcards):
    """config['network'] with {model}'s decoder: the networks that its fine-tuning builds."""
    return model_network(config["network"], SPECS[wildcards.model])


def stage1_settings():
    """config['stage1'] without the choice and training of the RBM stack: what the autoencoder's training reads."""
    return {k: v for k, v in config["stage1"].items() if k not in ("init", "rbm_stack")}


def layer_below_codes(wildcards):
    """The data of the prior layer `stack`: the stage-one codes of its variant for the first layer, else the
    layer below's hidden units."""
    below = stack_below(wildcards.stack)
    if below:
        return run_of(wildcards).prior_codes(below, wildcards.variant)
    return run_of(wildcards).codes(wildcards.variant)


def prior_layer_config(wildcards):
    """The training settings of the prior layer `stack` (binlatent.pretrain.layer_settings)."""
    return layer_settings(config["prior"], wildcards.stack.count("-"))


def model_spec(wildcards):
    return SPECS[wildcards.model].as_dict()


def model_outputs(wildcards=None):
    """Every model's checkpoint, curves, evaluation and metrics of the first seed, keyed for the figures script;
    with several seeds also every seed's evaluation and metrics, keyed seed<N>_<model>_<kind>.
    """
    files = {
        f"{name}_{kind}": FIRST.model(name, kind)
        for name in MODELS
        for kind in MODEL_FILES
    }
    if SEEDED:
        for seed in SEEDS:
            for name in MODELS:
                for kind in ("evaluation", "metrics"):
                    files[f"seed{seed}_{name}_{kind}"] = RESULTS.seeded(seed).model(
                        name, kind
                    )
    return files


def tuned_model_spec(wildcards):
    """The spec of {model} at the grid point {lr}, {wd} of the tuning sweep."""
    return tuned_spec(SPECS[wildcards.model], wildcards.lr, wildcards.wd).as_dict()


def tuned_pixel_rbm_config(wildcards):
    """config['pixel_rbm'] at the grid point {lr}, {wd} of the tuning sweep."""
    return tuned_pixel_rbm(config["pixel_rbm"], wildcards.lr, wildcards.wd)


def tuning_points():
    """Every (model, step, decay) of the sweep, in the models' order, with whether it is the RBM on pixels."""
    return [
        {"model": name, "lr": lr, "weight_decay": wd, "pixels": name in PIXEL_MODELS}
        for name in MODELS
        for lr, wd in grid_points(SPECS[name], config["tuning"], config["pixel_rbm"])
    ]


def tuning_curves(wildcards=None):
    """The curves of every grid point of the sweep, in the order of tuning_points()."""
    return [
        RESULTS.tuning_point(p["model"], p["lr"], p["weight_decay"], "curves.h5")
        for p in tuning_points()
    ]


def final_targets():
    """What the run makes: the sweep's table when config['tuning'] sets a grid, else the figures."""
    return [RESULTS.tuning("tuning.csv")] if TUNING else [RESULTS.figures()]


def pretraining_curves(wildcards=None):
    """Curves of the pretraining stages the run's models use, keyed stage1<variant>, stage1-rbm_stack_rbm<i>
    (once: the stack is shared by every decoder), stage2<variant>_<stack>."""
    files, stack = {}, stage1_variant("rbm_stack")
    for variant in STAGE1_VARIANTS:
        files[f"stage1{variant}"] = FIRST.codes(variant)
        if (
            variant_parts(variant)[0] == "rbm_stack"
            and f"stage1{stack}_rbm1" not in files
        ):
            for i in range(len(ENCODER_RBM_UNITS)):
                files[f"stage1{stack}_rbm{i + 1}"] = FIRST.encoder_rbm(
                    i + 1, "curves.h5"
                )
    for variant, stack in PRIOR_STACKS:
        files[f"stage2{variant}_{stack}"] = FIRST.prior_curves(stack, variant)
    return files


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
