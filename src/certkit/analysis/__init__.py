"""Analyses built on attacks, bounds and certificates."""

from .adversarial import adversarial_accuracy, attack_run, save_examples

__all__ = ["adversarial_accuracy", "attack_run", "save_examples"]
