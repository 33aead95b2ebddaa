rule evaluate:
    input:
        data=rules.binarize.output.data,
        checkpoint=out("{model}", "model.pt"),
    output:
        evaluation=out("{model}", "evaluation.h5"),
        metrics=out("{model}", "metrics.csv"),
    log:
        log_path("evaluate_{model}"),
    benchmark:
        benchmark_path("evaluate_{model}")
    conda:
        ENV
    threads: resource("evaluate", "threads")
    resources:
        mem_mb=resource("evaluate", "mem_mb"),
        runtime=resource("evaluate", "runtime"),
        gpu=resource("evaluate", "gpu"),
    params:
        evaluate=config["evaluate"],
        seed=config["seed"],
    script:
        "../scripts/evaluate.py"
