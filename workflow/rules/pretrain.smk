rule pretrain_autoencoder:
    input:
        data=rules.binarize.output.data,
    output:
        checkpoint=RESULTS.autoencoder(),
        codes=RESULTS.codes(),
    log:
        RESULTS.log("pretrain_autoencoder"),
    benchmark:
        RESULTS.benchmark("pretrain_autoencoder")
    priority: 10  # on the longest path: start it before the baselines that need no pretraining
    conda:
        ENV
    threads: resource("pretrain_autoencoder", "threads")
    resources:
        mem_mb=resource("pretrain_autoencoder", "mem_mb"),
        runtime=resource("pretrain_autoencoder", "runtime"),
        gpu=resource("pretrain_autoencoder", "gpu"),
    params:
        state=RESULTS.resume_state("pretrain_autoencoder"),
        network=config["network"],
        stage1=config["stage1"],
        seed=config["seed"],
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    script:
        "../scripts/pretrain_autoencoder.py"


# Stage two, one job per layer: the RBM on top of the prior layers {stack} (h100: 100 hidden units on the
# codes; h100-h50: 50 hidden units on that RBM's hidden units) fitted to the layer below's codes. Stacks that
# share their bottom layers share those jobs.
rule pretrain_prior:
    input:
        codes=layer_below_codes,
    output:
        checkpoint=RESULTS.prior("{stack}"),
        curves=RESULTS.prior_curves("{stack}"),
        codes=RESULTS.prior_codes("{stack}"),
    log:
        RESULTS.log("pretrain_prior_{stack}"),
    benchmark:
        RESULTS.benchmark("pretrain_prior_{stack}")
    priority: 10
    conda:
        ENV
    threads: resource("pretrain_prior", "threads")
    resources:
        mem_mb=resource("pretrain_prior", "mem_mb"),
        runtime=resource("pretrain_prior", "runtime"),
        gpu=resource("pretrain_prior", "gpu"),
    params:
        state=RESULTS.resume_state("pretrain_prior_{stack}"),
        prior=prior_layer_config,
        seed=config["seed"],
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    script:
        "../scripts/pretrain_prior.py"
