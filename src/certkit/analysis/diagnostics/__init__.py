"""SABR diagnostics (Müller et al. 2023, sections 4-5): box growth, ReLU states, loss over
propagation-region size, and gradient alignment of robust and standard losses."""

from .box_growth import box_growth, box_growth_run
from .grad_alignment import gradient_alignment, gradient_alignment_run
from .loss_lambda import loss_vs_lambda, loss_vs_lambda_run
from .relu_states import relu_states, relu_states_run

__all__ = ["box_growth", "box_growth_run", "gradient_alignment", "gradient_alignment_run",
           "loss_vs_lambda", "loss_vs_lambda_run", "relu_states", "relu_states_run"]
