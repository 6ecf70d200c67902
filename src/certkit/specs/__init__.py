"""Perturbation sets: boxes, Lp balls (and, in later modules, affine / bias-field sets)."""

from .base import Spec
from .lp import Box, L2Ball, LinfBall

__all__ = ["Box", "L2Ball", "LinfBall", "Spec"]
