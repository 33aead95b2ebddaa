"""The plan of jobs: the one place that turns a config into the jobs of a run, each a `Job` record of its rule, its
wildcards, its input and output files and the config values its stage reads (`params`).

Everything that runs jobs reads this plan: the Snakemake rules take their files and params from it
(workflow/rules/common.smk), one adapter calls the stage function of the rule's name with them
(binlatent.script.run_stage), and bench/stages.py runs the same jobs in order without Snakemake, so that its
artifacts carry the same provenance as the workflow's. This module imports neither torch nor matplotlib: planning
a run (`snakemake -n`) loads configuration and path code only.

The rules and their jobs:
- binarize: the data splits;
- pretrain_encoder_rbm{layer}: the RBM stack on the pixels that starts stage one (stage1.init: rbm_stack);
- pretrain_autoencoder_{pretraining}: stage one of the networks named `pretraining`, how they start and their
  decoder (`pretraining_name`: random-mirrored, rbm_stack-autoregressive, ...);
- pretrain_prior_{pretraining}_{stack}: stage two, one job per RBM of a prior's stack on that stage one's codes;
- finetune_{model}, train_pixel_rbm_{model}, evaluate_{model}: each model (per training seed with several);
- figures: the figures and tables; or, for the tuning sweep, tune_{model}_lr{lr}_wd{wd} (tune_pixel_rbm for the RBM
  on pixels) and tuning_table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from binlatent.code_digest import stage_digest
from binlatent.datasets.base import DOWNLOADED
from binlatent.datasets.loaders import check_config as check_dataset
from binlatent.paths import MODEL_FILES, Layout, stack_name
from binlatent.sweep import grid_points, is_on, tuned_pixel_rbm, tuned_spec
from binlatent.variants import ModelSpec, check_stack_config, hidden_units, model_specs

RESOURCES_OF = {"tune": "finetune", "tune_pixel_rbm": "train_pixel_rbm"}  # rules that take another rule's resources
TUNING_FILES = {"table": "tuning.csv", "markdown": "tuning.md", "figure": "tuning.png", "chosen": "chosen.yaml"}


class PlanError(ValueError):
    """A config whose jobs cannot be planned; the message names the key and what to do."""


Files = dict[str, Any]  # a job's named files: a path, or a list of paths


@dataclass(frozen=True)
class Rule:
    """What the jobs of one rule share: their wildcards, where their outputs go and how a job is named (its log,
    benchmark and resume state are named after it)."""

    name: str
    wildcards: tuple[str, ...]
    outputs: Callable[..., Files]  # (run layout, config, **wildcards) -> the job's outputs
    job_name: str  # a pattern of the wildcards, e.g. 'finetune_{model}'
    seeded: bool = True  # its files lie in a training seed's folder (seed<N>/) when the run has several seeds
    resumable: bool = False  # a training stage: keeps a resume state beside its outputs


def _pretraining_files(run: Layout, config: Mapping[str, Any], pretraining: str) -> Files:
    return {"checkpoint": run.autoencoder(pretraining), "codes": run.codes(pretraining)}


def _encoder_rbm_files(run: Layout, config: Mapping[str, Any], layer: str) -> Files:
    return {kind: run.encoder_rbm(layer, file) for kind, file in RBM_FILES.items()}


def _prior_files(run: Layout, config: Mapping[str, Any], pretraining: str, stack: str) -> Files:
    return {
        "checkpoint": run.prior(pretraining, stack),
        "curves": run.prior_curves(pretraining, stack),
        "codes": run.prior_codes(pretraining, stack),
    }


def _trained_files(run: Layout, config: Mapping[str, Any], model: str) -> Files:
    return {kind: run.model(model, kind) for kind in ("checkpoint", "curves")}


def _evaluation_files(run: Layout, config: Mapping[str, Any], model: str) -> Files:
    return {kind: run.model(model, kind) for kind in ("evaluation", "metrics")}


def _tuning_point_files(run: Layout, config: Mapping[str, Any], model: str, lr: str, wd: str) -> Files:
    return {kind: run.tuning_point(model, lr, wd, MODEL_FILES[kind]) for kind in ("checkpoint", "curves")}


RBM_FILES = {"checkpoint": "rbm.pt", "curves": "curves.h5", "codes": "codes.h5"}
TUNE = Rule("tune", ("model", "lr", "wd"), _tuning_point_files, "tune_{model}_lr{lr}_wd{wd}", seeded=False,
            resumable=True)  # fmt: skip
RULES = {
    rule.name: rule
    for rule in (
        Rule("binarize", (), lambda run, config: {"data": run.data(config["dataset"])}, "binarize", seeded=False),
        Rule("pretrain_encoder_rbm", ("layer",), _encoder_rbm_files, "pretrain_encoder_rbm{layer}", resumable=True),
        Rule("pretrain_autoencoder", ("pretraining",), _pretraining_files, "pretrain_autoencoder_{pretraining}",
             resumable=True),
        Rule("pretrain_prior", ("pretraining", "stack"), _prior_files, "pretrain_prior_{pretraining}_{stack}",
             resumable=True),
        Rule("finetune", ("model",), _trained_files, "finetune_{model}", resumable=True),
        Rule("train_pixel_rbm", ("model",), _trained_files, "train_pixel_rbm_{model}", resumable=True),
        Rule("evaluate", ("model",), _evaluation_files, "evaluate_{model}"),
        Rule("figures", (), lambda run, config: {"figures": run.figures()}, "figures", seeded=False),
        TUNE,
        dataclasses.replace(TUNE, name="tune_pixel_rbm"),  # the RBM on pixels' points of the sweep
        Rule("tuning_table", (), lambda run, config: {k: run.tuning(f) for k, f in TUNING_FILES.items()},
             "tuning_table", seeded=False),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Job:
    """One job: its rule, wildcards, files, and its params: the config values its stage reads and the digest of the
    code it runs (binlatent.code_digest), recorded in every artifact it writes and in its resume state's
    fingerprint."""

    rule: str
    wildcards: Mapping[str, str]
    inputs: Files
    outputs: Files
    params: Mapping[str, Any]
    name: str
    log: str
    benchmark: str
    state: str | None = None  # the resume state of a training stage

    def files(self) -> Files:
        """Inputs and outputs by name: the stage function's file arguments."""
        return {**self.inputs, **self.outputs}


def pretraining_name(spec: ModelSpec) -> str:
    """The name of the stage one (and stage two) a model starts from: how its networks start and their decoder,
    e.g. 'rbm_stack-mirrored'. Models whose resolved networks agree share it."""
    return f"{spec.stage1_init}-{spec.decoder}"


def layer_settings(prior: Mapping[str, Any], depth: int) -> dict[str, Any]:
    """config['prior']'s training settings for the layer `depth` (0 = the bottom) with its entry of
    prior.layer_overrides; without the layer sizes, so adding a layer on top changes no layer below."""
    overrides = prior.get("layer_overrides", [])
    settings = {k: v for k, v in prior.items() if k not in ("n_hidden", "layer_overrides")}
    return {**settings, **(overrides[depth] if depth < len(overrides) else {})}


def resource(config: Mapping[str, Any], rule: str, key: str) -> Any:
    """A resource of a rule from config['resources'], falling back to config['resources']['default']."""
    res = config["resources"]
    return res.get(RESOURCES_OF.get(rule, rule), {}).get(key, res["default"][key])


def check_config(config: Mapping[str, Any]) -> None:
    """What the schema cannot say about a config, before any job is planned: the dataset's needs
    (datasets.loaders.check_config) and an output folder that can be one."""
    outdir = Path(config["outdir"])
    if outdir.exists() and not outdir.is_dir():
        raise PlanError(f"config: outdir '{outdir}' is a file, not a folder: pass --config outdir=FOLDER")
    check_dataset(config)


@dataclass
class Plan:
    """Every job of the run of `config`, in an order that runs each after the jobs it reads from."""

    config: Mapping[str, Any]
    jobs: list[Job] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_config(self.config)
        self.specs = model_specs(self.config)
        self.seeds = list(self.config["seeds"] or [self.config["seed"]])
        self.results = Layout(self.config["outdir"])
        self.tuning = is_on(self.config["tuning"])
        self.by_key: dict[tuple[str, tuple[tuple[str, str], ...]], Job] = {}
        self.add("binarize", {}, self._data_inputs(), self._binarize_params())
        for seed in self.seeds[:1] if self.tuning else self.seeds:
            self.add_pretraining(seed)
            if not self.tuning:
                self.add_models(seed)
        if self.tuning:
            self.add_sweep()
        else:
            self.add_figures()

    # -- lookups -------------------------------------------------------------------------------------------------

    @property
    def seeded(self) -> bool:
        """Whether the run trains several seeds, each in its own folder."""
        return len(self.seeds) > 1

    def run(self, seed: int | str) -> Layout:
        """The layout of a training seed's files: <outdir>/seed<N>/ with several seeds, else <outdir>."""
        return self.results.seeded(seed) if self.seeded else self.results

    def job(self, rule: str, wildcards: Mapping[str, str]) -> Job:
        """The job of `rule` with these wildcard values; a KeyError naming them when the run has no such job."""
        key = (rule, tuple(sorted((k, str(v)) for k, v in wildcards.items())))
        if key not in self.by_key:
            raise KeyError(f"the run of this config has no {rule} job with {dict(wildcards)}")
        return self.by_key[key]

    def of_rule(self, rule: str) -> list[Job]:
        return [job for job in self.jobs if job.rule == rule]

    def values(self, rule: str, wildcard: str) -> list[str]:
        """Every value `wildcard` takes in the jobs of `rule`."""
        return sorted({job.wildcards[wildcard] for job in self.of_rule(rule)})

    def patterns(self, rule: str) -> dict[str, Any]:
        """The rule's outputs, log, benchmark and resume state with Snakemake wildcards in place of the values."""
        spec = RULES[rule]
        run = self.run("{seed}") if spec.seeded else self.results
        names = {w: f"{{{w}}}" for w in spec.wildcards}
        name = spec.job_name.format(**names)
        return {
            "outputs": spec.outputs(run, self.config, **names),
            "log": run.log(name),
            "benchmark": run.benchmark(name),
            "state": run.resume_state(name) if spec.resumable else None,
        }

    def targets(self) -> list[str]:
        """Every output of every job: what the run makes, so that a deleted artifact is made again."""
        return [path for job in self.jobs for path in flat(job.outputs.values())]

    # -- building ------------------------------------------------------------------------------------------------

    def add(
        self, rule: str, wildcards: Mapping[str, str], inputs: Files, params: Mapping[str, Any], seed: int | None = None
    ) -> Job:
        """The job of `rule` with these wildcards (and training seed), once: a second request returns the first."""
        spec = RULES[rule]
        run = self.run(seed) if spec.seeded and seed is not None else self.results
        all_wildcards = {**wildcards, **({"seed": str(seed)} if spec.seeded and self.seeded else {})}
        key = (rule, tuple(sorted(all_wildcards.items())))
        if key in self.by_key:
            return self.by_key[key]
        name = spec.job_name.format(**wildcards)
        job = Job(
            rule,
            all_wildcards,
            inputs,
            spec.outputs(run, self.config, **wildcards),
            {**params, "code": stage_digest(rule)},
            name,
            run.log(name),
            run.benchmark(name),
            run.resume_state(name) if spec.resumable else None,
        )
        self.jobs.append(job)
        self.by_key[key] = job
        return job

    @property
    def data(self) -> str:
        return self.by_key[("binarize", ())].outputs["data"]

    def _data_inputs(self) -> Files:
        """The user's data file is an input of the data stage, so that editing it reruns the workflow; the root
        directory of mnist or cifar10 is not (torchvision downloads into it)."""
        return {"user_file": self.config["data_path"]} if self.config["dataset"] == "file" else {}

    def _binarize_params(self) -> dict[str, Any]:
        config = self.config
        reads_path = config["dataset"] in ("file", *DOWNLOADED)
        return {
            "dataset": config["dataset"],
            "data_path": config["data_path"] if reads_path else "",  # '' where it is not read: no rerun
            "data": config["data"],
            "seed": config["seed"],
        }

    def training(self, seed: int) -> dict[str, Any]:
        """The params every training job of a seed reads beside its own sections."""
        return {"seed": seed, "device": self.config["device"], "checkpoint_every": self.config["checkpoint_every"]}

    def add_pretraining(self, seed: int) -> None:
        """The RBM stack, stage one and stage two that the models of one training seed start from."""
        for spec in self.specs.values():
            if spec.stage1:
                self.stage_one(spec, seed)
            if spec.stage2:
                self.prior_layers(spec, seed)

    def encoder_stack(self, seed: int) -> list[Job]:
        """The RBM stack that starts stage one (stage1.init: rbm_stack), one job per RBM, bottom first."""
        network, jobs = self.config["network"], []
        check_stack_config(network, self.config["dataset"])
        for layer, n_hidden in enumerate(hidden_units(network), start=1):
            data = jobs[-1].outputs["codes"] if jobs else self.data
            params = {"rbm": self.config["stage1"]["rbm_stack"], "n_hidden": n_hidden, **self.training(seed)}
            jobs.append(self.add("pretrain_encoder_rbm", {"layer": str(layer)}, {"data": data}, params, seed))
        return jobs

    def stage_one(self, spec: ModelSpec, seed: int) -> Job:
        """The stage one a model starts from, shared by the models whose networks and start agree."""
        inputs: Files = {"data": self.data}
        if spec.stage1_init == "rbm_stack":
            inputs["rbms"] = [job.outputs["checkpoint"] for job in self.encoder_stack(seed)]
        settings = {k: v for k, v in self.config["stage1"].items() if k not in ("init", "rbm_stack")}
        params = {"network": spec.network, "stage1": settings, **self.training(seed)}
        return self.add("pretrain_autoencoder", {"pretraining": pretraining_name(spec)}, inputs, params, seed)

    def prior_layers(self, spec: ModelSpec, seed: int) -> list[Job]:
        """Stage two of a model's prior, one job per RBM, bottom first; stacks with the same bottom layers share
        those jobs."""
        pretraining, jobs = pretraining_name(spec), []
        for depth, n_hidden in enumerate(spec.prior_layers):
            data = jobs[-1].outputs["codes"] if jobs else self.stage_one(spec, seed).outputs["codes"]
            wildcards = {"pretraining": pretraining, "stack": stack_name(spec.prior_layers[: depth + 1])}
            params = {"rbm": layer_settings(self.config["prior"], depth), "n_hidden": n_hidden, **self.training(seed)}
            jobs.append(self.add("pretrain_prior", wildcards, {"data": data}, params, seed))
        return jobs

    def pretrained_inputs(self, spec: ModelSpec, seed: int) -> Files:
        """The data and the pretrained parts a model starts from: its stage one, its prior's stage-two RBMs."""
        files: Files = {"data": self.data}
        if spec.stage1:
            files["stage1"] = self.stage_one(spec, seed).outputs["checkpoint"]
        if spec.stage2:
            files["prior"] = [job.outputs["checkpoint"] for job in self.prior_layers(spec, seed)]
        return files

    def train_model(self, rule: str, wildcards: Mapping[str, str], spec: ModelSpec, seed: int, **sections) -> Job:
        """A training job of a model: fine-tuning from its pretrained parts, or the RBM on pixels."""
        if spec.prior == "pixels":
            inputs, params = {"data": self.data}, {"pixel_rbm": sections.get("pixel_rbm", self.config["pixel_rbm"])}
        else:
            inputs, params = self.pretrained_inputs(spec, seed), {"finetune": self.config["finetune"]}
        params = {"spec": spec.as_dict(), **params, **self.training(seed)}
        return self.add(rule, wildcards, inputs, params, seed)

    def add_models(self, seed: int) -> None:
        """Each model's training and evaluation for one training seed."""
        for name, spec in self.specs.items():
            rule = "train_pixel_rbm" if spec.prior == "pixels" else "finetune"
            trained = self.train_model(rule, {"model": name}, spec, seed)
            inputs = {"data": self.data, "checkpoint": trained.outputs["checkpoint"]}
            params = {"evaluate": self.config["evaluate"], "seed": seed, "device": self.config["device"]}
            self.add("evaluate", {"model": name}, inputs, params, seed)

    def pretraining_curves(self) -> dict[str, str]:
        """The curves of the first seed's pretraining jobs, by their label in the training-curves figure."""
        labels = {"pretrain_encoder_rbm": "stage1 rbm_stack rbm{layer}", "pretrain_autoencoder": "stage1 {pretraining}",
                  "pretrain_prior": "stage2 {pretraining} {stack}"}  # fmt: skip
        first = str(self.seeds[0])
        return {
            labels[job.rule].format(**job.wildcards): job.outputs.get("curves", job.outputs.get("codes"))
            for job in self.jobs
            if job.rule in labels and job.wildcards.get("seed", first) == first
        }

    def add_figures(self) -> None:
        """The figures and tables of every model, from the first seed's models and every seed's evaluations."""
        first, curves = self.run(self.seeds[0]), self.pretraining_curves()
        inputs = {
            "data": self.data,
            "checkpoints": [first.model(name, "checkpoint") for name in self.specs],
            "curves": [first.model(name, "curves") for name in self.specs],
            "evaluations": [self.run(s).model(name, "evaluation") for s in self.seeds for name in self.specs],
            "metrics": [self.run(s).model(name, "metrics") for s in self.seeds for name in self.specs],
            "pretraining_curves": list(curves.values()),
        }
        params = {
            "figures": self.config["figures"],
            "models": list(self.specs),
            "seeds": self.seeds,
            "pretraining": list(curves),
            "seed": self.config["seed"],
            "device": self.config["device"],
        }
        self.add("figures", {}, inputs, params)

    def add_sweep(self) -> None:
        """The tuning sweep: every model at every point of its grid, and the table of their validation scores."""
        seed, points, curves = self.seeds[0], [], []
        for name, spec in self.specs.items():
            for lr, wd in grid_points(spec, self.config["tuning"], self.config["pixel_rbm"]):
                wildcards = {"model": name, "lr": lr, "wd": wd}
                if spec.prior == "pixels":
                    job = self.train_model("tune_pixel_rbm", wildcards, spec, seed,
                                           pixel_rbm=tuned_pixel_rbm(self.config["pixel_rbm"], lr, wd))  # fmt: skip
                else:
                    job = self.train_model("tune", wildcards, tuned_spec(spec, lr, wd), seed)
                points.append({"model": name, "lr": lr, "weight_decay": wd, "pixels": spec.prior == "pixels"})
                curves.append(job.outputs["curves"])
        models = {name: self.config["models"][name] for name in self.specs}
        self.add("tuning_table", {}, {"curves": curves}, {"points": points, "models": models})


def flat(values: Sequence[Any] | Iterator[Any]) -> list[str]:
    """File values, a path or a list of paths each, as one list of paths."""
    return [path for value in values for path in (value if isinstance(value, list) else [value])]
