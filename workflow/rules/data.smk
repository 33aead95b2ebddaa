rule binarize:
    input:
        unpack(data_inputs),
    output:
        data=RESULTS.data(config["dataset"]),
    log:
        RESULTS.log("binarize"),
    benchmark:
        RESULTS.benchmark("binarize")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=resource("binarize", "mem_mb"),
        runtime=resource("binarize", "runtime"),
    params:
        dataset=config["dataset"],
        data_path=data_path_read(),
        data=config["data"],
        seed=config["seed"],
    script:
        "../scripts/binarize.py"
