# Joint training of each model with a code (hybrid, factorised, Gaussian, ...) on the K-sample bound,
# from the pretrained parts its spec in config['models'] names, or from scratch.
rule finetune:
    input:
        unpack(pretrained_inputs),
        data=rules.binarize.output.data,
    output:
        checkpoint=RESULTS.model("{model}", "checkpoint"),
        curves=RESULTS.model("{model}", "curves"),
    log:
        RESULTS.log("finetune_{model}"),
    benchmark:
        RESULTS.benchmark("finetune_{model}")
    wildcard_constraints:
        model=one_of(LATENT_MODELS),
    conda:
        ENV
    threads: resource("finetune", "threads")
    resources:
        mem_mb=resource("finetune", "mem_mb"),
        runtime=resource("finetune", "runtime"),
        gpu=resource("finetune", "gpu"),
    params:
        state=RESULTS.resume_state("finetune_{model}"),
        spec=model_spec,
        network=config["network"],
        finetune=config["finetune"],
        seed=config["seed"],
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    script:
        "../scripts/finetune.py"


# The RBM-on-pixels baseline: the stage-two schedule on the images, the best validation epoch kept.
rule train_pixel_rbm:
    input:
        data=rules.binarize.output.data,
    output:
        checkpoint=RESULTS.model("{model}", "checkpoint"),
        curves=RESULTS.model("{model}", "curves"),
    log:
        RESULTS.log("train_pixel_rbm_{model}"),
    benchmark:
        RESULTS.benchmark("train_pixel_rbm_{model}")
    wildcard_constraints:
        model=one_of(PIXEL_MODELS),
    conda:
        ENV
    threads: resource("train_pixel_rbm", "threads")
    resources:
        mem_mb=resource("train_pixel_rbm", "mem_mb"),
        runtime=resource("train_pixel_rbm", "runtime"),
        gpu=resource("train_pixel_rbm", "gpu"),
    params:
        state=RESULTS.resume_state("train_pixel_rbm_{model}"),
        spec=model_spec,
        pixel_rbm=config["pixel_rbm"],
        seed=config["seed"],
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    script:
        "../scripts/train_pixel_rbm.py"
