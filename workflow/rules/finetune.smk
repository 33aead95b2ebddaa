# Joint training of each model with a code (hybrid, factorised, Gaussian, ...) on the K-sample bound,
# from the pretrained parts its spec in config['models'] names, or from scratch.
rule finetune:
    input:
        unpack(pretrained_inputs),
        data=rules.binarize.output.data,
    output:
        checkpoint=RUN.model("{model}", "checkpoint"),
        curves=RUN.model("{model}", "curves"),
    log:
        RUN.log("finetune_{model}"),
    benchmark:
        RUN.benchmark("finetune_{model}")
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
        state=RUN.resume_state("finetune_{model}"),
        spec=model_spec,
        network=model_network_config,
        finetune=config["finetune"],
        seed=training_seed,
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    script:
        "../scripts/finetune.py"


# The RBM-on-pixels baseline: the stage-two schedule on the images, the best validation epoch kept.
rule train_pixel_rbm:
    input:
        data=rules.binarize.output.data,
    output:
        checkpoint=RUN.model("{model}", "checkpoint"),
        curves=RUN.model("{model}", "curves"),
    log:
        RUN.log("train_pixel_rbm_{model}"),
    benchmark:
        RUN.benchmark("train_pixel_rbm_{model}")
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
        state=RUN.resume_state("train_pixel_rbm_{model}"),
        spec=model_spec,
        pixel_rbm=config["pixel_rbm"],
        seed=training_seed,
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    script:
        "../scripts/train_pixel_rbm.py"
