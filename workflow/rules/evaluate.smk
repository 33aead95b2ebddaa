rule evaluate:
    input:
        data=rules.binarize.output.data,
        checkpoint=RESULTS.model("{model}", "checkpoint"),
    output:
        evaluation=RESULTS.model("{model}", "evaluation"),
        metrics=report(
            RESULTS.model("{model}", "metrics"),
            caption="../report/metrics.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
    log:
        RESULTS.log("evaluate_{model}"),
    benchmark:
        RESULTS.benchmark("evaluate_{model}")
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
        device=config["device"],
    script:
        "../scripts/evaluate.py"
