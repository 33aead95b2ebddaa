# The data splits: the configured dataset split and, for binary images, binarised with the fixed seed.
rule binarize:
    input:
        unpack(inputs_of("binarize")),
    output:
        **outputs_of("binarize"),
    log:
        log_of("binarize"),
    benchmark:
        benchmark_of("binarize")
    wildcard_constraints:
        **constraints_of("binarize"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=resource(config, "binarize", "mem_mb"),
        runtime=resource(config, "binarize", "runtime"),
    params:
        cfg=params_of("binarize"),
        state=state_of("binarize"),
    script:
        "../scripts/stage.py"
