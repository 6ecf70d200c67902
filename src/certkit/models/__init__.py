"""Model zoo and the extra layer types (Normalize, Clip)."""

from .describe import LayerInfo, ModelSummary, describe
from .layers import Clip, Normalize
from .zoo import ARCHITECTURES, Architecture, build_model, get_architecture, model_names

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "Clip",
    "LayerInfo",
    "ModelSummary",
    "Normalize",
    "build_model",
    "describe",
    "get_architecture",
    "model_names",
]
