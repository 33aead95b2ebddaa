# The RBMs that start stage one when stage1.init (or a model's stage1_init) is rbm_stack: RBM 1 on the pixels,
# RBM {layer} on the hidden units of RBM {layer} - 1, up to the code layer.
rule pretrain_encoder_rbm:
    input:
        unpack(inputs_of("pretrain_encoder_rbm")),
    output:
        **outputs_of("pretrain_encoder_rbm"),
    log:
        log_of("pretrain_encoder_rbm"),
    benchmark:
        benchmark_of("pretrain_encoder_rbm")
    wildcard_constraints:
        **constraints_of("pretrain_encoder_rbm"),
    priority: 10
    conda:
        ENV
    threads: resource(config, "pretrain_encoder_rbm", "threads")
    resources:
        mem_mb=resource(config, "pretrain_encoder_rbm", "mem_mb"),
        runtime=resource(config, "pretrain_encoder_rbm", "runtime"),
        gpu=resource(config, "pretrain_encoder_rbm", "gpu"),
    params:
        cfg=params_of("pretrain_encoder_rbm"),
        state=state_of("pretrain_encoder_rbm"),
    script:
        "../scripts/stage.py"


# Stage one of the networks named {pretraining}: how they start (random weights or the RBM stack) and their
# decoder, e.g. rbm_stack-mirrored; models whose networks and start agree share it.
rule pretrain_autoencoder:
    input:
        unpack(inputs_of("pretrain_autoencoder")),
    output:
        **outputs_of("pretrain_autoencoder"),
    log:
        log_of("pretrain_autoencoder"),
    benchmark:
        benchmark_of("pretrain_autoencoder")
    wildcard_constraints:
        **constraints_of("pretrain_autoencoder"),
    priority: 10  # on the longest path: start it before the baselines that need no pretraining
    conda:
        ENV
    threads: resource(config, "pretrain_autoencoder", "threads")
    resources:
        mem_mb=resource(config, "pretrain_autoencoder", "mem_mb"),
        runtime=resource(config, "pretrain_autoencoder", "runtime"),
        gpu=resource(config, "pretrain_autoencoder", "gpu"),
    params:
        cfg=params_of("pretrain_autoencoder"),
        state=state_of("pretrain_autoencoder"),
    script:
        "../scripts/stage.py"


# Stage two, one job per layer: the RBM on top of the prior layers {stack} (h100: 100 hidden units on the
# codes; h100-h50: 50 hidden units on that RBM's hidden units) fitted to the layer below's codes, on stage one
# {pretraining}. Stacks that share their bottom layers share those jobs.
rule pretrain_prior:
    input:
        unpack(inputs_of("pretrain_prior")),
    output:
        **outputs_of("pretrain_prior"),
    log:
        log_of("pretrain_prior"),
    benchmark:
        benchmark_of("pretrain_prior")
    wildcard_constraints:
        **constraints_of("pretrain_prior"),
    priority: 10
    conda:
        ENV
    threads: resource(config, "pretrain_prior", "threads")
    resources:
        mem_mb=resource(config, "pretrain_prior", "mem_mb"),
        runtime=resource(config, "pretrain_prior", "runtime"),
        gpu=resource(config, "pretrain_prior", "gpu"),
    params:
        cfg=params_of("pretrain_prior"),
        state=state_of("pretrain_prior"),
    script:
        "../scripts/stage.py"
