"""The images a model is built for: their shape and pixel kind (torch-free, so that the plan and the reports use it)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImageFormat:
    """Images of shape (H, W) or (H, W, C) with pixels 'binary' or '8bit'."""

    shape: tuple[int, ...]
    pixels: str

    @property
    def n_pixels(self) -> int:
        return math.prod(self.shape)

    @property
    def max_value(self) -> float:
        return 255.0 if self.pixels == "8bit" else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "pixels": self.pixels}

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> ImageFormat:
        return cls(tuple(int(v) for v in saved["shape"]), str(saved["pixels"]))
