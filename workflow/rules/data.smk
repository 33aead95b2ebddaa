rule binarize:
    input:
        unpack(data_inputs),
    output:
        data=out("data", f"{config['dataset']}.h5"),
    log:
        log_path("binarize"),
    benchmark:
        benchmark_path("binarize")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=resource("binarize", "mem_mb"),
        runtime=resource("binarize", "runtime"),
    params:
        dataset=config["dataset"],
        data_path=config["data_path"],
        data=config["data"],
        seed=config["seed"],
    script:
        "../scripts/binarize.py"
