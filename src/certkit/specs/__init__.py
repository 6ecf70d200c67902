"""Perturbation sets: boxes, Lp balls, affine images of coefficient boxes."""

from .affine import AffineLayer, AffineSet
from .base import Lifted, Spec
from .biasfield import BiasField, BiasFieldSet, Brightness, Contrast
from .lp import Box, L2Ball, LinfBall

__all__ = ["AffineLayer", "AffineSet", "BiasField", "BiasFieldSet", "Box", "Brightness",
           "Contrast", "L2Ball", "Lifted", "LinfBall", "Spec"]
