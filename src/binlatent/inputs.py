"""What the public API accepts, checked before any work is done: images, counts, AIS settings and the entries of a
model checkpoint. Each refusal is a ValueError that names the argument (or the file and the entry), says what was
expected and what was found; a setting that trains poorly but can run (a batch larger than the training set) is a
warning in the log instead.

Images are accepted as numpy arrays, tensors or nested lists, in any of the layouts the model's ImageFormat allows:
(N, D), (N, H, W), or (N, H, W, C); a trailing channel of 1 may be given or left out. Their values must be what
the data stage stores: 0/1 for a model of binary images, integers 0..255 (of any numeric type, float32 as the
stage's splits load) for a model of 8-bit images.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from binlatent.ais import beta_schedule
from binlatent.image import ImageFormat
from binlatent.variants import ModelSpec

log = logging.getLogger("binlatent")

PIXEL_KINDS = ("binary", "8bit")
# What a model checkpoint (models.save_model) holds, and what its model_args hold, for build_model to rebuild it.
CHECKPOINT_ENTRIES = ("model", "model_args", "train_seconds")
MODEL_ARGS_ENTRIES = ("format", "spec", "image")
SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(ModelSpec) if f.default is dataclasses.MISSING)


def count(argument: str, value: Any, minimum: int, meaning: str) -> int:
    """`value` as an int, refused unless it is an integer of at least `minimum`; `meaning` says what it counts."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{argument}: expected {meaning}, an integer of at least {minimum}; found {value!r} "
            f"({type(value).__name__})"
        )
    if value < minimum:
        raise ValueError(f"{argument}: expected {meaning}, an integer of at least {minimum}; found {value}")
    return int(value)


def images(x: Any, image: ImageFormat, argument: str, device: torch.device | str) -> torch.Tensor:
    """x as float32 (N, D) on `device`, refused unless it is a non-empty batch of images in one of `image`'s
    layouts, with finite values of its pixel kind (0/1, or integers 0..255)."""
    if isinstance(x, torch.Tensor):
        array, real = x.detach(), not x.is_complex()
    else:
        array = _array(x, argument)
        real = array.dtype.kind in "biuf"  # bool, integers, floats
    if not real:
        raise ValueError(f"{argument}: expected images of real numbers; found dtype {array.dtype}")
    shape = tuple(array.shape)
    if len(shape) < 2 or shape[1:] not in layouts(image):
        raise ValueError(f"{argument}: expected {_layout_words(image)}; found shape {shape}{_shape_hint(shape, image)}")
    if shape[0] == 0:
        raise ValueError(f"{argument}: expected at least one image; found an empty batch, shape {shape}")
    if isinstance(array, np.ndarray):
        array = array.astype(np.float32, copy=False)  # numpy's integer types that torch lacks, too
    values = torch.as_tensor(array, device=device).reshape(shape[0], -1).to(torch.float32)
    _check_values(values, image, argument)
    return values


def _array(x: Any, argument: str) -> np.ndarray:
    """A numpy array of x (a list of images, say), refused when numpy cannot make numbers of it."""
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as err:  # ragged lists and the like
        raise ValueError(f"{argument}: expected an array of images; numpy cannot read it as one ({err})") from err


def layouts(image: ImageFormat) -> set[tuple[int, ...]]:
    """The per-image shapes accepted for `image`: (D,), its shape, and that shape with a trailing channel of 1
    added or left out."""
    shape = tuple(image.shape)
    accepted = {(image.n_pixels,), shape}
    if len(shape) == 2:
        accepted.add((*shape, 1))
    elif shape[-1] == 1:
        accepted.add(shape[:-1])
    return accepted


def _layout_words(image: ImageFormat) -> str:
    """The layouts of `image` in words, for a message."""
    shape, kind = tuple(image.shape), "binary" if image.pixels == "binary" else "8-bit"
    dims = " x ".join(str(n) for n in shape)
    shapes = " or ".join(f"(N, {', '.join(str(n) for n in s)})" for s in sorted(layouts(image), key=len))
    return f"a batch of images as {shapes}: this model's images are {dims} {kind}"


def _shape_hint(shape: tuple[int, ...], image: ImageFormat) -> str:
    """What a shape that is not accepted may have meant."""
    if shape in layouts(image):
        return "; a single image? pass it as a batch of one, x[None]"
    if len(shape) >= 2 and math.prod(shape[1:]) != image.n_pixels:
        return f": {math.prod(shape[1:])} pixels per image, where the model has {image.n_pixels}"
    return ""


def _check_values(values: torch.Tensor, image: ImageFormat, argument: str) -> None:
    """Refuse NaN or infinite values, and values that are not of the model's pixel kind, with an example."""
    finite = torch.isfinite(values)
    if not bool(finite.all()):
        raise ValueError(f"{argument}: expected finite pixel values; found {_example(~finite, values, 'finite')}")
    if image.pixels == "8bit":
        wrong = (values < 0) | (values > 255) | (values != values.round())
        expected = "8-bit pixels, integers 0..255, as the data stage stores them (this model is of 8-bit images)"
        kind = "integers 0..255"
    else:
        wrong = (values != 0) & (values != 1)
        expected = "binary pixels, each 0 or 1, as the data stage stores them (this model is of binary images)"
        kind = "0 or 1"
    if bool(wrong.any()):
        low, high = float(values.min()), float(values.max())
        raise ValueError(
            f"{argument}: expected {expected}; found {_example(wrong, values, kind)}, values in [{low:g}, {high:g}]"
            f"{_value_hint(image, low, high)}"
        )


def _example(wrong: torch.Tensor, values: torch.Tensor, kind: str) -> str:
    """'N of M values that are not `kind`, e.g. v (image i, pixel j)' for the mask `wrong` over `values` (n, D)."""
    n_wrong = int(wrong.sum())
    i, j = (int(v) for v in wrong.nonzero()[0])
    value = float(values[i, j])
    return f"{n_wrong} of {values.numel()} values that are not {kind}, e.g. {value:g} (image {i}, pixel {j})"


def _value_hint(image: ImageFormat, low: float, high: float) -> str:
    """How to turn values in [low, high] into what the model takes."""
    if image.pixels == "8bit":
        if 0 <= low and high <= 1:
            return "; intensities in [0, 1]? pass np.round(x * 255)"
        return "; round and clip them to 0..255"
    if 0 <= low and high <= 1:
        return (
            "; intensities in [0, 1] are binarised by the data stage before a model sees them: pass e.g. "
            "np.random.default_rng(0).random(x.shape) < x, or x > 0.5"
        )
    if 0 <= low and high <= 255:
        return "; grey levels 0..255? binarise x / 255 first, e.g. x / 255 > 0.5"
    return "; binarise them first"


def settings(argument: str, value: Any, counts: Mapping[str, tuple[int, str]], schedules: tuple[str, ...]) -> None:
    """Refuse a settings mapping (ais=, conservative=) without the keys it needs: each of `counts` an integer of at
    least its minimum, each of `schedules` a valid AIS schedule, [[beta, steps], ...] ending at beta 1."""
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{argument}: expected a mapping with keys {', '.join([*counts, *schedules])}; found {value!r}"
        )
    for key, (minimum, meaning) in counts.items():
        if key not in value:
            raise ValueError(f"{argument}: expected the key '{key}' ({meaning}); found keys {', '.join(value)}")
        count(f"{argument}['{key}']", value[key], minimum, meaning)
    for key in schedules:
        if key not in value:
            raise ValueError(f"{argument}: expected the key '{key}' (an AIS schedule); found keys {', '.join(value)}")
        schedule(f"{argument}['{key}']", value[key])


def schedule(argument: str, value: Any) -> None:
    """Refuse an AIS schedule that `ais.beta_schedule` cannot read, naming the argument."""
    try:
        beta_schedule(value)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{argument}: expected an AIS schedule [[beta, steps], ...] with betas rising to 1; found {value!r} ({err})"
        ) from err


AIS_KEYS = {"runs": (1, "the number of AIS runs")}
RAISE_KEYS = {
    "K": (1, "importance samples per image for RAISE"),
    "chains": (1, "reverse chains per image"),
}
CHAIN_START_KEYS = {"runs_per_sample": (1, "AIS runs per sampling chain")}


def log_likelihood_arguments(
    model: Any,
    x: Any,
    k: Any,
    x_base: Any,
    ais: Any,
    conservative: Any,
    exact_up_to: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The arguments of GenerativeModel.log_likelihood checked (see the module docstring): x and x_base as float32
    (N, D) on the model's device. K is the number of importance samples per image, at least 1 for a model that
    samples codes; an RBM on the pixels samples none and takes any K >= 0 (the workflow passes 0)."""
    x = images(x, model.image, "x", model.device)
    samples_codes = bool(model.spec.K)
    meaning = "importance samples per image" + ("" if samples_codes else " (not used by an RBM on the pixels)")
    count("K", k, 1 if samples_codes else 0, meaning)
    count("exact_up_to", exact_up_to, 0, "the most units of an RBM layer whose log Z is enumerated")
    settings("ais", ais, AIS_KEYS, ("schedule",))
    if conservative is not None:
        long = ("long_schedule",) if isinstance(conservative, Mapping) and conservative.get("long_schedule") else ()
        settings("conservative", conservative, RAISE_KEYS, ("schedule", *long))
    base = None if x_base is None else images(x_base, model.image, "x_base", model.device)
    return x, base


def sample_arguments(model: Any, n: Any, gibbs_steps: Any, x_base: Any, ais: Any) -> torch.Tensor | None:
    """The arguments of GenerativeModel.sample checked: n >= 1 samples, gibbs_steps >= 0, x_base (as float32 (N, D)
    on the model's device) where AIS chain starts (`ais`) need it."""
    count("n", n, 1, "the number of samples")
    count("gibbs_steps", gibbs_steps, 0, "Gibbs sweeps")
    if ais and not model.prior.normalised:
        settings("ais", ais, CHAIN_START_KEYS, ("schedule",))
        if x_base is None:
            raise ValueError(
                "x_base: expected the images whose codes AIS's base model is fitted to, which chain starts from AIS "
                "runs (ais=...) need; found None: pass x_base=x_train, or leave ais out to start from random states"
            )
    return None if x_base is None else images(x_base, model.image, "x_base", model.device)


class CheckpointFormatError(ValueError):
    """A checkpoint written in an older layout of model_args, which this version does not read."""


def model_checkpoint(path: str | os.PathLike, saved: Mapping[str, Any], model_format: int) -> Mapping[str, Any]:
    """`saved`, refused unless it holds what load_model rebuilds a model from: the weights, the model_args (of
    layout `model_format`, with a spec, its networks included, and an image format) and the training time; the
    message names the file and the missing entry."""
    missing = [entry for entry in CHECKPOINT_ENTRIES if entry not in saved]
    if missing:
        raise ValueError(
            f"{path}: not a model checkpoint: it lacks {_entries(missing)} (it holds: {', '.join(saved) or 'nothing'})"
            f"; load a model's model.pt (a stage's own checkpoint, such as stage one's or an RBM layer's, is not one)"
            f", or delete this file and rerun the step that wrote it"
        )
    args = saved["model_args"]
    where = f"{path}: model_args"
    if not isinstance(args, Mapping):
        raise ValueError(f"{where} is {type(args).__name__}, not a mapping; delete the file and rerun the step")
    found = args.get("format", 1)
    if found != model_format:
        raise CheckpointFormatError(
            f"{path}: a model checkpoint of format {found}, written by an older version of binlatent (this one reads "
            f"format {model_format}); rebuild it: rerun the workflow, which retrains the model, or delete the file"
        )
    _require(where, args, MODEL_ARGS_ENTRIES)
    _require(f"{where}['spec']", args["spec"], SPEC_FIELDS)
    _require(f"{where}['image']", args["image"], ("shape", "pixels"))
    if args["image"]["pixels"] not in PIXEL_KINDS:
        raise ValueError(
            f"{where}['image']['pixels'] is {args['image']['pixels']!r}, not one of {', '.join(PIXEL_KINDS)}; delete "
            "the file and rerun the step that wrote it"
        )
    if args["spec"]["network"] is not None:
        _require(f"{where}['spec']['network']", args["spec"]["network"], ("kind", "n_latent", "decoder"))
    return saved


def _require(where: str, value: Any, keys: tuple[str, ...]) -> None:
    """Refuse a mapping `value` (named `where`) without every one of `keys`."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} is {type(value).__name__}, not a mapping; delete the file and rerun the step")
    missing = [key for key in keys if key not in value]
    if missing:
        raise ValueError(
            f"{where} lacks {_entries(missing)} (it holds: {', '.join(value) or 'nothing'}); the checkpoint is damaged "
            "or was written by other code: delete it and rerun the step that wrote it"
        )


def _entries(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def load_weights(model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: str | os.PathLike) -> None:
    """model.load_state_dict(state), a mismatch refused with a message naming the file."""
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise ValueError(
            f"{path}: the weights do not fit the model its model_args describe ({str(err).strip()}); the checkpoint "
            "is damaged or was written by other code: delete it and rerun the step that wrote it"
        ) from err


def batch_size(key: str, size: int, n_train: int, whole_batches: bool = False) -> None:
    """A warning in the log where config key `key` asks for batches of `size` images from a training set of only
    `n_train`: every step then sees the whole set; an RBM fit (`whole_batches`, which skips a partial batch) then
    takes no step at all."""
    if size <= n_train:
        return
    consequence = (
        "an RBM trains on whole batches only, so it takes no step at all and stays at its initial weights"
        if whole_batches
        else "every step uses the whole set, one step per epoch"
    )
    log.warning(
        "%s = %d is larger than the training set (%d images): %s; set %s to at most %d",
        key, size, n_train, consequence, key, n_train,
    )  # fmt: skip
