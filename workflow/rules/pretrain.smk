rule pretrain_autoencoder:
    input:
        data=rules.binarize.output.data,
    output:
        checkpoint=out("stage1", "autoencoder.pt"),
        codes=out("stage1", "codes.h5"),
    log:
        log_path("pretrain_autoencoder"),
    benchmark:
        benchmark_path("pretrain_autoencoder")
    priority: 10  # on the longest path: start it before the baselines that need no pretraining
    conda:
        ENV
    threads: resource("pretrain_autoencoder", "threads")
    resources:
        mem_mb=resource("pretrain_autoencoder", "mem_mb"),
        runtime=resource("pretrain_autoencoder", "runtime"),
        gpu=resource("pretrain_autoencoder", "gpu"),
    params:
        state=resume_state("pretrain_autoencoder"),
        network=config["network"],
        stage1=config["stage1"],
        seed=config["seed"],
    script:
        "../scripts/pretrain_autoencoder.py"


# Stage two fits an RBM prior with {n_hidden} hidden units to the codes (one per size the models use).
rule pretrain_prior:
    input:
        codes=rules.pretrain_autoencoder.output.codes,
    output:
        checkpoint=out("stage2", "h{n_hidden}", "prior.pt"),
        curves=out("stage2", "h{n_hidden}", "prior_curves.h5"),
    log:
        log_path("pretrain_prior_h{n_hidden}"),
    benchmark:
        benchmark_path("pretrain_prior_h{n_hidden}")
    priority: 10
    conda:
        ENV
    threads: resource("pretrain_prior", "threads")
    resources:
        mem_mb=resource("pretrain_prior", "mem_mb"),
        runtime=resource("pretrain_prior", "runtime"),
        gpu=resource("pretrain_prior", "gpu"),
    params:
        state=resume_state("pretrain_prior_h{n_hidden}"),
        prior=config["prior"],
        seed=config["seed"],
    script:
        "../scripts/pretrain_prior.py"
