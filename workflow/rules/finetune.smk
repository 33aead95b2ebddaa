# Joint training of each model with a code (hybrid, factorised, Gaussian, ...) on the K-sample bound,
# from the pretrained parts its spec in config['models'] names, or from scratch.
rule finetune:
    input:
        unpack(inputs_of("finetune")),
    output:
        **outputs_of("finetune"),
    log:
        log_of("finetune"),
    benchmark:
        benchmark_of("finetune")
    wildcard_constraints:
        **constraints_of("finetune"),
    conda:
        ENV
    threads: resource(config, "finetune", "threads")
    resources:
        mem_mb=resource(config, "finetune", "mem_mb"),
        runtime=resource(config, "finetune", "runtime"),
        gpu=resource(config, "finetune", "gpu"),
    params:
        cfg=params_of("finetune"),
        state=state_of("finetune"),
    script:
        "../scripts/stage.py"


# The RBM-on-pixels baseline: the stage-two schedule on the images, the best validation epoch kept.
rule train_pixel_rbm:
    input:
        unpack(inputs_of("train_pixel_rbm")),
    output:
        **outputs_of("train_pixel_rbm"),
    log:
        log_of("train_pixel_rbm"),
    benchmark:
        benchmark_of("train_pixel_rbm")
    wildcard_constraints:
        **constraints_of("train_pixel_rbm"),
    conda:
        ENV
    threads: resource(config, "train_pixel_rbm", "threads")
    resources:
        mem_mb=resource(config, "train_pixel_rbm", "mem_mb"),
        runtime=resource(config, "train_pixel_rbm", "runtime"),
        gpu=resource(config, "train_pixel_rbm", "gpu"),
    params:
        cfg=params_of("train_pixel_rbm"),
        state=state_of("train_pixel_rbm"),
    script:
        "../scripts/stage.py"
