# The RBMs that start stage one when stage1.init (or a model's stage1_init) is rbm_stack: RBM 1 on the pixels,
# RBM {layer} on the hidden units of RBM {layer} - 1, up to the code layer.
rule pretrain_encoder_rbm:
    input:
        data=encoder_rbm_data,
    output:
        checkpoint=RUN.encoder_rbm("{layer}"),
        curves=RUN.encoder_rbm("{layer}", "curves.h5"),
        codes=RUN.encoder_rbm("{layer}", "codes.h5"),
    log:
        RUN.log("pretrain_encoder_rbm{layer}"),
    benchmark:
        RUN.benchmark("pretrain_encoder_rbm{layer}")
    priority: 10
    conda:
        ENV
    threads: resource("pretrain_encoder_rbm", "threads")
    resources:
        mem_mb=resource("pretrain_encoder_rbm", "mem_mb"),
        runtime=resource("pretrain_encoder_rbm", "runtime"),
        gpu=resource("pretrain_encoder_rbm", "gpu"),
    params:
        state=RUN.resume_state("pretrain_encoder_rbm{layer}"),
        rbm=config["stage1"]["rbm_stack"],
        n_hidden=lambda wildcards: ENCODER_RBM_UNITS[int(wildcards.layer) - 1],
        seed=training_seed,
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    script:
        "../scripts/pretrain_encoder_rbm.py"


# Stage one, from random weights ({variant} empty) or from the RBM stack ({variant} -rbm_stack); with a decoder
# other than network.decoder (a model's `decoder`) the variant names it too: -autoregressive, -rbm_stack-autoregressive.
rule pretrain_autoencoder:
    input:
        unpack(autoencoder_inputs),
    output:
        checkpoint=RUN.autoencoder("{variant}"),
        codes=RUN.codes("{variant}"),
    log:
        RUN.log("pretrain_autoencoder{variant}"),
    benchmark:
        RUN.benchmark("pretrain_autoencoder{variant}")
    priority: 10  # on the longest path: start it before the baselines that need no pretraining
    conda:
        ENV
    threads: resource("pretrain_autoencoder", "threads")
    resources:
        mem_mb=resource("pretrain_autoencoder", "mem_mb"),
        runtime=resource("pretrain_autoencoder", "runtime"),
        gpu=resource("pretrain_autoencoder", "gpu"),
    params:
        state=RUN.resume_state("pretrain_autoencoder{variant}"),
        network=variant_network,
        stage1=stage1_settings(),
        seed=training_seed,
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    script:
        "../scripts/pretrain_autoencoder.py"


# Stage two, one job per layer: the RBM on top of the prior layers {stack} (h100: 100 hidden units on the
# codes; h100-h50: 50 hidden units on that RBM's hidden units) fitted to the layer below's codes, on stage one's
# {variant}. Stacks that share their bottom layers share those jobs.
rule pretrain_prior:
    input:
        codes=layer_below_codes,
    output:
        checkpoint=RUN.prior("{stack}", "{variant}"),
        curves=RUN.prior_curves("{stack}", "{variant}"),
        codes=RUN.prior_codes("{stack}", "{variant}"),
    log:
        RUN.log("pretrain_prior{variant}_{stack}"),
    benchmark:
        RUN.benchmark("pretrain_prior{variant}_{stack}")
    priority: 10
    conda:
        ENV
    threads: resource("pretrain_prior", "threads")
    resources:
        mem_mb=resource("pretrain_prior", "mem_mb"),
        runtime=resource("pretrain_prior", "runtime"),
        gpu=resource("pretrain_prior", "gpu"),
    params:
        state=RUN.resume_state("pretrain_prior{variant}_{stack}"),
        rbm=prior_layer_config,
        seed=training_seed,
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    script:
        "../scripts/pretrain_prior.py"
