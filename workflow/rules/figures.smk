rule figures:
    input:
        unpack(model_outputs),
        unpack(pretraining_curves),
        data=rules.binarize.output.data,
    output:
        figures=report(
            directory(RESULTS.figures()),
            patterns=["{name}.png", "{name}.csv"],
            caption="../report/figures.rst",
            category=report_category,
        ),
    log:
        RESULTS.log("figures"),
    benchmark:
        RESULTS.benchmark("figures")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=resource("figures", "mem_mb"),
        runtime=resource("figures", "runtime"),
    params:
        models=MODELS,
        seeds=SEEDS,
        pretraining=lambda wildcards: list(pretraining_curves()),
        figures=config["figures"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/figures.py"
