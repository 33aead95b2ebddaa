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


# Stage two fits an RBM prior with {n_hidden} hidden units to the codes (one per size the models use).
rule pretrain_prior:
    input:
        codes=rules.pretrain_autoencoder.output.codes,
    output:
        checkpoint=RESULTS.prior("{n_hidden}"),
        curves=RESULTS.prior_curves("{n_hidden}"),
    log:
        RESULTS.log("pretrain_prior_h{n_hidden}"),
    benchmark:
        RESULTS.benchmark("pretrain_prior_h{n_hidden}")
    priority: 10
    conda:
        ENV
    threads: resource("pretrain_prior", "threads")
    resources:
        mem_mb=resource("pretrain_prior", "mem_mb"),
        runtime=resource("pretrain_prior", "runtime"),
        gpu=resource("pretrain_prior", "gpu"),
    params:
        state=RESULTS.resume_state("pretrain_prior_h{n_hidden}"),
        prior=config["prior"],
        seed=config["seed"],
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    script:
        "../scripts/pretrain_prior.py"
