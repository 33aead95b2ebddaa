# Test log-likelihoods: importance sampling with AIS's log Z and its checks, RAISE beside it.
rule evaluate:
    input:
        unpack(inputs_of("evaluate")),
    output:
        evaluation=outputs_of("evaluate")["evaluation"],
        metrics=report(
            outputs_of("evaluate")["metrics"],
            caption="../report/metrics.rst",
            category="Evaluation",
            subcategory="{model}",
        ),
    log:
        log_of("evaluate"),
    benchmark:
        benchmark_of("evaluate")
    wildcard_constraints:
        **constraints_of("evaluate"),
    conda:
        ENV
    threads: resource(config, "evaluate", "threads")
    resources:
        mem_mb=resource(config, "evaluate", "mem_mb"),
        runtime=resource(config, "evaluate", "runtime"),
        gpu=resource(config, "evaluate", "gpu"),
    params:
        cfg=params_of("evaluate"),
        state=state_of("evaluate"),
    script:
        "../scripts/stage.py"
