"""The models a run trains: the hybrid, its baselines and ablations, each a named spec in config['models'].

A spec names the prior over the code (`rbm`, `factorised`, `gaussian`) or `pixels` for an RBM
directly on the pixels, which pretraining stages it starts from, any of the training choices
that ablations vary (estimator, K, RBM hidden units, how stage one starts, the decoder), and its own
fine-tuning step size and weight decay (tuned per model on its own validation bound by configs/tuning.yaml, so
not ablated choices); everything else comes from the config. Its networks are resolved once, here: `network` is
config['network'] with the model's own decoder, and everything that builds, names or pretrains the model reads that
field (the stage one it starts from is named after it: binlatent.plan).

The training budget (finetune.budget): with `network_epochs` every model with a code gets the same number of
epochs that train its encoder and decoder on the images, stage1.epochs + finetune.epochs, so a model without
stage one fine-tunes for that many; with `finetune_epochs` every model fine-tunes for finetune.epochs and
pretraining comes on top.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from binlatent.image import ImageFormat

DECODERS = ("mirrored", "autoregressive")  # the decoder of p(x|z): network.decoder, or a model's `decoder`
PRETRAINING_LABELS = {(False, False): "none", (True, False): "stage 1", (True, True): "stages 1+2"}
DECODER_LABELS = {  # the decoder in words: the ablations figure, the results table
    "mirrored": "mirrored (pixels independent given z)",
    "autoregressive": "autoregressive (gated PixelCNN)",
}


class ModelSpecError(ValueError):
    """A model spec in config['models'] that the workflow cannot train."""


@dataclass(frozen=True)
class ModelSpec:
    """One model of the run, with every choice resolved against the config's defaults."""

    name: str
    prior: str  # rbm | factorised | gaussian | pixels
    stage1: bool  # starts from the stage-one autoencoder
    stage2: bool  # starts from the stage-two RBM (rbm prior only)
    estimator: str  # encoder gradient: vimco | rws, or reparam for Gaussian latents; empty for the pixel RBM
    K: int  # importance samples per image in training; 0 for the pixel RBM
    rbm_hidden: int  # hidden units of the RBM (prior or pixel RBM), the first of a deep prior; 0 when there is none
    lr: float  # fine-tuning step of the encoder and decoder; 0 for the pixel RBM (trained by config['pixel_rbm'])
    prior_upper: tuple[int, ...] = ()  # hidden units of the RBMs stacked above the first (a deep prior)
    stage1_init: str = "random"  # how stage one's networks start: random | rbm_stack (an RBM stack, unrolled)
    weight_decay: float | None = None  # fine-tuning's decoupled decay of encoder and decoder; None: finetune's
    epochs: int | None = None  # fine-tuning epochs under finetune.budget; None: finetune.epochs
    network: Mapping[str, Any] | None = None  # config['network'] with the model's decoder; None for the pixel RBM

    def __post_init__(self) -> None:
        object.__setattr__(self, "prior_upper", tuple(int(n) for n in self.prior_upper))
        if (self.network is None) != (self.prior == "pixels"):
            raise ModelSpecError(f"model {self.name}: network settings are for a model with a code, and it needs them")
        if self.network is not None and self.network.get("decoder") not in DECODERS:
            raise ModelSpecError(
                f"model {self.name}: network.decoder must be one of {', '.join(DECODERS)}: "
                f"{self.network.get('decoder')!r}"
            )

    @property
    def decoder(self) -> str:
        """p(x|z): mirrored | autoregressive (a gated PixelCNN); '' for the pixel RBM, which has none."""
        return self.network["decoder"] if self.network is not None else ""

    @property
    def prior_layers(self) -> tuple[int, ...]:
        """Hidden units of every RBM of the prior, bottom first; () without an RBM."""
        return (self.rbm_hidden, *self.prior_upper) if self.rbm_hidden else ()

    @property
    def prior_depth(self) -> int:
        """The number of RBMs in the prior's stack (0 without an RBM prior)."""
        return len(self.prior_layers) if self.prior == "rbm" else 0

    @property
    def pretraining(self) -> str:
        return PRETRAINING_LABELS[(self.stage1, self.stage2)]

    @property
    def pretraining_label(self) -> str:
        """The pretraining for the results table: the stages, and the RBM stack stage one starts from."""
        stack = ", stage 1 from an RBM stack" if self.stage1 and self.stage1_init == "rbm_stack" else ""
        return self.pretraining + stack

    @property
    def prior_kind(self) -> str:
        """The prior's kind in the results: 'deep_rbm' for a stack of RBMs, else `prior`."""
        return "deep_rbm" if self.prior_upper else self.prior

    @property
    def decoder_label(self) -> str:
        """The decoder in words, for the ablations figure: 'autoregressive (gated PixelCNN)'; '' without one."""
        return DECODER_LABELS.get(self.decoder, "")

    def as_dict(self) -> dict[str, Any]:
        """The spec's fields, which ModelSpec(**spec) rebuilds."""
        fields = asdict(self)
        fields["network"] = None if self.network is None else dict(self.network)
        return fields


def resolve(name: str, raw: Mapping[str, Any], config: Mapping[str, Any]) -> ModelSpec:
    """The spec of model `name` from its config entry; raises ModelSpecError naming the problem."""
    prior = raw["prior"]
    where = f"config: models.{name}"
    binary_code = prior in ("rbm", "factorised")
    stage1 = bool(raw.get("stage1", binary_code))
    stage2 = bool(raw.get("stage2", prior == "rbm" and stage1))
    if stage1 and not binary_code:
        raise ModelSpecError(f"{where}: stage1 pretraining needs a binary code (prior rbm or factorised), not {prior}")
    if stage2 and (prior != "rbm" or not stage1):
        raise ModelSpecError(f"{where}: stage2 fits an RBM prior to stage-one codes; it needs prior rbm and stage1")
    if prior == "pixels" and ("estimator" in raw or "K" in raw):
        raise ModelSpecError(f"{where}: an RBM on pixels samples no codes; remove 'estimator' and 'K'")
    fixed_estimators = {"gaussian": "reparam", "pixels": ""}
    estimator = fixed_estimators.get(prior, raw.get("estimator", config["finetune"]["estimator"]))
    if prior == "gaussian" and raw.get("estimator", "reparam") != "reparam":
        raise ModelSpecError(f"{where}: Gaussian latents train by reparameterisation; remove 'estimator'")
    K = 0 if prior == "pixels" else int(raw.get("K", config["finetune"]["K"]))
    if estimator == "vimco" and K < 2:
        raise ModelSpecError(f"{where}: VIMCO needs K >= 2 importance samples, got {K}")
    default_hidden = {"rbm": config["prior"]["n_hidden"], "pixels": config["pixel_rbm"]["n_hidden"]}
    layers = raw.get("rbm_hidden", default_hidden.get(prior, []))
    layers = [int(n) for n in (layers if isinstance(layers, list | tuple) else [layers])]
    if layers and prior not in default_hidden:
        raise ModelSpecError(f"{where}: rbm_hidden applies to an RBM prior or pixel RBM, not prior {prior}")
    if len(layers) > 1 and prior != "rbm":
        raise ModelSpecError(f"{where}: an RBM on pixels has one hidden layer; give rbm_hidden as one number")
    if "lr" in raw and prior == "pixels":
        raise ModelSpecError(f"{where}: an RBM on pixels is trained with pixel_rbm.lr; remove 'lr'")
    if "weight_decay" in raw and prior == "pixels":
        raise ModelSpecError(f"{where}: an RBM on pixels is trained with pixel_rbm.weight_decay; remove 'weight_decay'")
    lr = 0.0 if prior == "pixels" else float(raw.get("lr", config["finetune"]["lr"]))
    weight_decay = None if prior == "pixels" else float(raw.get("weight_decay", config["finetune"]["weight_decay"]))
    if "stage1_init" in raw and not stage1:
        raise ModelSpecError(f"{where}: stage1_init chooses how stage one starts; this model has no stage one")
    stage1_init = raw.get("stage1_init", config["stage1"]["init"])
    default_decoder = config["network"]["decoder"]
    if "decoder" in raw and prior == "pixels":
        raise ModelSpecError(f"{where}: an RBM on pixels has no decoder; remove 'decoder'")
    decoder = raw.get("decoder", default_decoder)
    if prior != "pixels" and decoder not in DECODERS:
        raise ModelSpecError(f"{where}: decoder must be one of {', '.join(DECODERS)}, not {decoder!r}")
    network = None if prior == "pixels" else {**config["network"], "decoder": decoder}
    rbm_hidden = layers[0] if layers else 0
    epochs = None if prior == "pixels" else finetune_epochs(config, stage1)
    return ModelSpec(
        name, prior, stage1, stage2, estimator, K, rbm_hidden, lr, tuple(layers[1:]), stage1_init, weight_decay, epochs,
        network,
    )  # fmt: skip


def finetune_epochs(config: Mapping[str, Any], stage1: bool) -> int:
    """Fine-tuning epochs of a model with a code under config['finetune']['budget']: `network_epochs` (the
    encoder and decoder get stage1.epochs + finetune.epochs epochs on the images, whether they start from stage
    one or not) or `finetune_epochs` (finetune.epochs for every model, pretraining on top)."""
    ft = config["finetune"]
    if ft.get("budget", "network_epochs") == "network_epochs" and not stage1:
        return int(ft["epochs"] + config["stage1"]["epochs"])
    return int(ft["epochs"])


def model_specs(config: Mapping[str, Any]) -> dict[str, ModelSpec]:
    """Every model of the run, in the config's order; a model set to None (null) is left out."""
    specs = {name: resolve(name, raw, config) for name, raw in config["models"].items() if raw is not None}
    if not specs:
        raise ModelSpecError("config: models leaves no model to train; keep at least one")
    return specs


def finetune_config(finetune: Mapping[str, Any], spec: ModelSpec) -> dict[str, Any]:
    """config['finetune'] with the spec's estimator, K, step size, and its weight decay and epochs where set."""
    cfg = copy.deepcopy(dict(finetune))
    cfg.update(estimator=spec.estimator, K=spec.K, lr=spec.lr)
    if spec.weight_decay is not None:
        cfg["weight_decay"] = spec.weight_decay
    if spec.epochs is not None:
        cfg["epochs"] = spec.epochs
    return cfg


REFERENCE_MODEL = "hybrid"  # the model whose margins and ablations the figures show, when the run has it


def reference_model(names: Sequence[str] | Mapping[str, Any]) -> str:
    """REFERENCE_MODEL when the run has it, else its first model (config files merge, so the order is not the
    user's)."""
    return REFERENCE_MODEL if REFERENCE_MODEL in names else next(iter(names))


ABLATION_AXES = ("pretraining", "stage1_init", "estimator", "K", "rbm_hidden", "prior_depth", "decoder")


def ablation_axis(spec: ModelSpec, reference: ModelSpec) -> str | None:
    """The one choice in which `spec` differs from `reference` (both with an RBM prior), else None."""
    if spec.prior != "rbm" or reference.prior != "rbm" or spec.name == reference.name:
        return None
    differing = [axis for axis in ABLATION_AXES if getattr(spec, axis) != getattr(reference, axis)]
    return differing[0] if len(differing) == 1 else None


# The RBM stack that starts stage one (stage1.init: rbm_stack): which configs it can start, and its sizes.


class RBMStackError(ValueError):
    """A config whose networks an RBM stack cannot initialise."""


EIGHT_BIT_DATASETS = ("patches", "cifar10")


def check_stack_config(network: Mapping[str, Any], dataset: str) -> None:
    """Stop before any job runs when the config's networks or dataset cannot start from an RBM stack (the pixel
    kind of a user's file is checked by the stack's first job)."""
    pixels = "8bit" if dataset in EIGHT_BIT_DATASETS else "binary"
    stack_sizes(ImageFormat((1,), pixels), network)


def stack_sizes(image: ImageFormat, network: Mapping[str, Any]) -> list[int]:
    """The visible units of each RBM of the stack and the last one's hidden units: [D, *hidden, n_latent]."""
    if network["kind"] != "mlp" or image.pixels != "binary" or network["activation"] != "tanh":
        raise RBMStackError(
            "config: stage1.init: rbm_stack initialises an MLP with tanh units on binary images (network.kind: mlp, "
            f"network.activation: tanh); this run has network.kind: {network['kind']}, network.activation: "
            f"{network['activation']} on {image.pixels} images: use stage1.init: random"
        )
    return [image.n_pixels, *hidden_units(network)]


def hidden_units(network: Mapping[str, Any]) -> list[int]:
    """The hidden units of each RBM of the stack, bottom first: the encoder's hidden layers, then the code."""
    return [*network["hidden"], network["n_latent"]]
