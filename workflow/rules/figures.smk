rule figures:
    input:
        unpack(model_outputs),
        unpack(pretraining_curves),
        data=rules.binarize.output.data,
    output:
        figures=report(
            directory(out("figures")),
            patterns=["{name}.png", "{name}.csv"],
            caption="../report/figures.rst",
            category=report_category,
        ),
    log:
        log_path("figures"),
    benchmark:
        benchmark_path("figures")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=resource("figures", "mem_mb"),
        runtime=resource("figures", "runtime"),
    params:
        models=MODELS,
        model_files=list(MODEL_FILES),
        pretraining=lambda wildcards: list(pretraining_curves()),
        figures=config["figures"],
    script:
        "../scripts/figures.py"
