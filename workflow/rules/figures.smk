rule figures:
    input:
        unpack(model_outputs),
        data=rules.binarize.output.data,
        codes=rules.pretrain_autoencoder.output.codes,
        prior_curves=rules.pretrain_prior.output.curves,
    output:
        figures=report(
            directory(out("figures")),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
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
        figures=config["figures"],
    script:
        "../scripts/figures.py"
