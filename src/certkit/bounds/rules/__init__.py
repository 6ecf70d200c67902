"""One module per layer family; importing this package registers every rule set."""

from . import affine_input, conv, elementwise, linear, relu, shape
from .affine_input import BatchedAffineOp
from .conv import ConvOp
from .elementwise import AffineOp
from .linear import LinearOp
from .relu import ReluOp
from .shape import AddOp, ReshapeOp

__all__ = ["AddOp", "AffineOp", "BatchedAffineOp", "ConvOp", "LinearOp", "ReluOp", "ReshapeOp",
           "affine_input", "conv", "elementwise", "linear", "relu", "shape"]
