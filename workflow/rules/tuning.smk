# The tuning sweep (config['tuning'], configs/tuning.yaml): every model trained at every point of its grid of
# step size {lr} and weight decay {wd}, one job per point, with the same epochs and early stopping as the run;
# each model's choice on its own best validation score. No grid point is evaluated on the test set.
rule tune:
    input:
        unpack(pretrained_inputs),
        data=rules.binarize.output.data,
    output:
        checkpoint=RESULTS.tuning_point("{model}", "{lr}", "{wd}", "model.pt"),
        curves=RESULTS.tuning_point("{model}", "{lr}", "{wd}", "curves.h5"),
    log:
        RESULTS.log("tune_{model}_lr{lr}_wd{wd}"),
    benchmark:
        RESULTS.benchmark("tune_{model}_lr{lr}_wd{wd}")
    wildcard_constraints:
        model=one_of(LATENT_MODELS),
    conda:
        ENV
    threads: resource("finetune", "threads")
    resources:
        mem_mb=resource("finetune", "mem_mb"),
        runtime=resource("finetune", "runtime"),
        gpu=resource("finetune", "gpu"),
    params:
        state=RESULTS.resume_state("tune_{model}_lr{lr}_wd{wd}"),
        spec=tuned_model_spec,
        network=model_network_config,
        finetune=config["finetune"],
        seed=training_seed,
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    script:
        "../scripts/finetune.py"


# The RBM on pixels at one grid point of its step (pixel_rbm.lr) and L2 decay.
rule tune_pixel_rbm:
    input:
        data=rules.binarize.output.data,
    output:
        checkpoint=RESULTS.tuning_point("{model}", "{lr}", "{wd}", "model.pt"),
        curves=RESULTS.tuning_point("{model}", "{lr}", "{wd}", "curves.h5"),
    log:
        RESULTS.log("tune_{model}_lr{lr}_wd{wd}"),
    benchmark:
        RESULTS.benchmark("tune_{model}_lr{lr}_wd{wd}")
    wildcard_constraints:
        model=one_of(PIXEL_MODELS),
    conda:
        ENV
    threads: resource("train_pixel_rbm", "threads")
    resources:
        mem_mb=resource("train_pixel_rbm", "mem_mb"),
        runtime=resource("train_pixel_rbm", "runtime"),
        gpu=resource("train_pixel_rbm", "gpu"),
    params:
        state=RESULTS.resume_state("tune_{model}_lr{lr}_wd{wd}"),
        spec=model_spec,
        pixel_rbm=tuned_pixel_rbm_config,
        seed=training_seed,
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    script:
        "../scripts/train_pixel_rbm.py"


# The grid's best validation scores, each model's choice, the figure, and the values to paste into config.yaml.
rule tuning_table:
    input:
        curves=tuning_curves(),
    output:
        table=report(
            RESULTS.tuning("tuning.csv"),
            caption="../report/tuning.rst",
            category="Tuning",
        ),
        markdown=RESULTS.tuning("tuning.md"),
        figure=report(
            RESULTS.tuning("tuning.png"),
            caption="../report/tuning.rst",
            category="Tuning",
        ),
        chosen=RESULTS.tuning("chosen.yaml"),
    log:
        RESULTS.log("tuning_table"),
    benchmark:
        RESULTS.benchmark("tuning_table")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=resource("figures", "mem_mb"),
        runtime=resource("figures", "runtime"),
    params:
        points=tuning_points(),
        models={name: config["models"][name] for name in MODELS},
    script:
        "../scripts/tuning_table.py"
