"""Counterexamples are only reported after onnxruntime confirms them on the original model.

A candidate input (found by the attack or inside branch and bound) is moved into its box in
the ONNX input type (float32 rounding may push a coordinate just outside; it is stepped
back with ``nextafter``), run through onnxruntime, and accepted when the property's output
constraints hold exactly there (strict rows strictly). The imported torch network must agree
with onnxruntime on that input to within ``tol`` (relative beyond outputs of size 1).
"""

from __future__ import annotations

import numpy as np
import torch

from ...io.onnx import OnnxNetwork
from ...io.vnnlib import Region, VnnProperty
from .result import Counterexample


def into_box(x: np.ndarray, lower: np.ndarray, upper: np.ndarray, dtype: type) -> np.ndarray:
    """``x`` clipped to the box and rounded to ``dtype`` without leaving the box."""
    xt = np.clip(np.asarray(x, dtype=np.float64), lower, upper).astype(dtype)
    for _ in range(4):
        low, high = xt.astype(np.float64) < lower, xt.astype(np.float64) > upper
        if not (low.any() or high.any()):
            break
        xt = np.where(low, np.nextafter(xt, dtype(np.inf)), xt)
        xt = np.where(high, np.nextafter(xt, dtype(-np.inf)), xt)
    return xt


class Checker:
    """Validates candidate counterexamples of ``prop`` on ``net`` with onnxruntime."""

    def __init__(self, net: OnnxNetwork, prop: VnnProperty, tol: float = 1e-4) -> None:
        self.net, self.prop, self.tol = net, prop, tol
        self.checked = 0
        self.rejected = 0

    def check(self, xs: np.ndarray, region: Region, limit: int = 8) -> Counterexample | None:
        """The first of (up to ``limit``) candidates ``xs`` (K, n_in) that is confirmed."""
        xs = np.asarray(xs, dtype=np.float64).reshape(-1, self.net.n_inputs)[:limit]
        for x in xs:
            xt = into_box(x, region.lower, region.upper, self.net.input_dtype)
            if not region.contains(xt):
                continue
            self.checked += 1
            y = self.net.run_onnxruntime(xt[None])[0]
            if not any(c.holds(y) for c in region.disjuncts):
                self.rejected += 1
                continue
            y64 = self.net.run_torch(xt[None].astype(np.float64), dtype=torch.float64)[0]
            if float((np.abs(y64 - y) / np.maximum(1.0, np.abs(y))).max()) > self.tol:
                self.rejected += 1
                continue
            return Counterexample(xt.astype(np.float64), y.astype(np.float64))
        return None

