rule evaluate:
    input:
        data=rules.binarize.output.data,
        checkpoint=out("{model}", "model.pt"),
    output:
        evaluation=out("{model}", "evaluation.h5"),
        metrics=report(
            out("{model}", "metrics.csv"),
            caption="../report/metrics.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
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
