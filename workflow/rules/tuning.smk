# The tuning sweep (config['tuning'], configs/tuning.yaml): every model trained at every point of its grid of
# step size {lr} and weight decay {wd}, one job per point, with the same epochs and early stopping as the run;
# each model's choice on its own best validation score. No grid point is evaluated on the test set.
rule tune:
    input:
        unpack(inputs_of("tune")),
    output:
        **outputs_of("tune"),
    log:
        log_of("tune"),
    benchmark:
        benchmark_of("tune")
    wildcard_constraints:
        **constraints_of("tune"),
    conda:
        ENV
    threads: resource(config, "tune", "threads")
    resources:
        mem_mb=resource(config, "tune", "mem_mb"),
        runtime=resource(config, "tune", "runtime"),
        gpu=resource(config, "tune", "gpu"),
    params:
        cfg=params_of("tune"),
        state=state_of("tune"),
    script:
        "../scripts/stage.py"


# The RBM on pixels at one grid point of its step (pixel_rbm.lr) and L2 decay.
rule tune_pixel_rbm:
    input:
        unpack(inputs_of("tune_pixel_rbm")),
    output:
        **outputs_of("tune_pixel_rbm"),
    log:
        log_of("tune_pixel_rbm"),
    benchmark:
        benchmark_of("tune_pixel_rbm")
    wildcard_constraints:
        **constraints_of("tune_pixel_rbm"),
    conda:
        ENV
    threads: resource(config, "tune_pixel_rbm", "threads")
    resources:
        mem_mb=resource(config, "tune_pixel_rbm", "mem_mb"),
        runtime=resource(config, "tune_pixel_rbm", "runtime"),
        gpu=resource(config, "tune_pixel_rbm", "gpu"),
    params:
        cfg=params_of("tune_pixel_rbm"),
        state=state_of("tune_pixel_rbm"),
    script:
        "../scripts/stage.py"


# The grid's best validation scores, each model's choice, the figure, and the values to paste into config.yaml.
rule tuning_table:
    input:
        unpack(inputs_of("tuning_table")),
    output:
        table=report(
            outputs_of("tuning_table")["table"],
            caption="../report/tuning.rst",
            category="Tuning",
        ),
        markdown=outputs_of("tuning_table")["markdown"],
        figure=report(
            outputs_of("tuning_table")["figure"],
            caption="../report/tuning.rst",
            category="Tuning",
        ),
        chosen=outputs_of("tuning_table")["chosen"],
    log:
        log_of("tuning_table"),
    benchmark:
        benchmark_of("tuning_table")
    wildcard_constraints:
        **constraints_of("tuning_table"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=resource(config, "tuning_table", "mem_mb"),
        runtime=resource(config, "tuning_table", "runtime"),
    params:
        cfg=params_of("tuning_table"),
        state=state_of("tuning_table"),
    script:
        "../scripts/stage.py"
