"""Training: one loop, methods as loss objects, schedules, resumable checkpoints."""

from .config import TrainConfig, make_config
from .loop import TrainResult, train
from .methods import METHODS, LossOutput, StepContext, TrainingMethod, method_names

__all__ = ["METHODS", "LossOutput", "StepContext", "TrainConfig", "TrainResult",
           "TrainingMethod", "make_config", "method_names", "train"]
