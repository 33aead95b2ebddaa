"""Deep generative models with binary latent variables (Hu & Salakhutdinov): an RBM prior over binary
codes with a deep decoder, trained by two-stage pretraining and joint fine-tuning, evaluated by AIS.
"""

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, schema="workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/tuning.smk"


# Every file of every job of the run: a deleted or failed artifact is made again, with everything downstream of it.
rule all:
    default_target: True
    input:
        PLAN.targets(),
