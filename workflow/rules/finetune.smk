# {model} is "hybrid" (RBM prior, from both pretraining stages) or "factorised" (the baseline:
# a factorised Bernoulli prior on the same stage-one encoder/decoder, same estimator).
rule finetune:
    input:
        unpack(prior_input),
        data=rules.binarize.output.data,
        stage1=rules.pretrain_autoencoder.output.checkpoint,
        codes=rules.pretrain_autoencoder.output.codes,
    output:
        checkpoint=out("{model}", "model.pt"),
        curves=out("{model}", "curves.h5"),
    log:
        log_path("finetune_{model}"),
    benchmark:
        benchmark_path("finetune_{model}")
    conda:
        ENV
    threads: resource("finetune", "threads")
    resources:
        mem_mb=resource("finetune", "mem_mb"),
        runtime=resource("finetune", "runtime"),
        gpu=resource("finetune", "gpu"),
    params:
        state=resume_state("finetune_{model}"),
        finetune=config["finetune"],
        seed=config["seed"],
    script:
        "../scripts/finetune.py"
