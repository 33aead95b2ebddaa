"""A run's config from its files, as Snakemake makes it: config.yaml, each --configfile merged over it in turn
(nested sections key by key), then single values, validated by the workflow's schema, which fills its defaults. For
the runners that do without Snakemake (bench/stages.py) and the tests that compare a plan with Snakemake's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

SCHEMA = Path("workflow") / "schemas" / "config.schema.yaml"


def merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep update of `base` by `override`, as Snakemake merges config files."""
    out = dict(base)
    for key, value in override.items():
        nested = isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
        out[key] = merged(out[key], value) if nested else value
    return out


def load_config(root: str | Path, files: Sequence[str | Path] = (), **values: Any) -> dict[str, Any]:
    """The config of the workflow in `root` with `files` merged over its config.yaml and top-level `values` set
    (None leaves a key as it is), validated and completed by the schema."""
    from snakemake.utils import validate

    root = Path(root)
    config = yaml.safe_load((root / "config.yaml").read_text())
    for path in files:
        config = merged(config, yaml.safe_load((root / path).read_text()))
    config.update({key: value for key, value in values.items() if value is not None})
    validate(config, str(root / SCHEMA))
    return config
