# Figures and tables of every model, into one folder that replaces the previous one only when complete (update:
# Snakemake keeps the previous folder while the job runs and puts it back if the job fails).
rule figures:
    input:
        unpack(inputs_of("figures")),
    output:
        figures=report(
            update(directory(outputs_of("figures")["figures"])),
            patterns=["{name}.png", "{name}.csv"],
            caption="../report/figures.rst",
            category=report_category,
        ),
    log:
        log_of("figures"),
    benchmark:
        benchmark_of("figures")
    wildcard_constraints:
        **constraints_of("figures"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=resource(config, "figures", "mem_mb"),
        runtime=resource(config, "figures", "runtime"),
    params:
        cfg=params_of("figures"),
        state=state_of("figures"),
    script:
        "../scripts/stage.py"
