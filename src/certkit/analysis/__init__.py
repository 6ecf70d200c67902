"""Analyses built on attacks, bounds and certificates."""

from .adversarial import adversarial_accuracy, attack_run, save_examples
from .diagnostics import (
    box_growth_run,
    gradient_alignment_run,
    loss_vs_lambda_run,
    relu_states_run,
)
from .gaps import gaps_run
from .lipschitz import lipschitz_run, local_lipschitz
from .max_eps import Radii, eps_grid, max_certified_eps, max_robust_eps
from .roc import CertRoc, auroc, certification_roc, curve_auc, detection_metrics, fpr_at_tpr
from .separation import nearest_other_distances, separation

__all__ = ["CertRoc", "Radii", "adversarial_accuracy", "attack_run", "auroc",
           "box_growth_run", "certification_roc", "curve_auc", "detection_metrics",
           "eps_grid", "fpr_at_tpr", "gaps_run", "gradient_alignment_run", "lipschitz_run",
           "local_lipschitz", "loss_vs_lambda_run", "max_certified_eps", "max_robust_eps",
           "nearest_other_distances", "relu_states_run", "save_examples", "separation"]
