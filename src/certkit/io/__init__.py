"""Interchange formats: ONNX networks, VNN-LIB properties and VNN-COMP result files."""

from .vnnlib import OutputConstraint, Region, VnnProperty, parse_vnnlib, parse_vnnlib_text

__all__ = ["OutputConstraint", "Region", "VnnProperty", "parse_vnnlib", "parse_vnnlib_text"]
