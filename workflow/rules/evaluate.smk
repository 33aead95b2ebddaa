rule evaluate:
    input:
        data=rules.binarize.output.data,
        checkpoint=RUN.model("{model}", "checkpoint"),
    output:
        evaluation=RUN.model("{model}", "evaluation"),
        metrics=report(
            RUN.model("{model}", "metrics"),
            caption="../report/metrics.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
    log:
        RUN.log("evaluate_{model}"),
    benchmark:
        RUN.benchmark("evaluate_{model}")
    conda:
        ENV
    threads: resource("evaluate", "threads")
    resources:
        mem_mb=resource("evaluate", "mem_mb"),
        runtime=resource("evaluate", "runtime"),
        gpu=resource("evaluate", "gpu"),
    params:
        evaluate=config["evaluate"],
        seed=training_seed,
        device=config["device"],
    script:
        "../scripts/evaluate.py"
