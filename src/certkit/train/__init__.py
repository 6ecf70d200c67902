"""Training: one loop, methods as loss objects, schedules, resumable checkpoints."""

from .config import TrainConfig
from .configure import check_config, make_config
from .loop import TrainResult, train
from .methods import METHODS, LossOutput, StepContext, TrainingMethod, method_names

__all__ = ["METHODS", "LossOutput", "StepContext", "TrainConfig", "TrainResult",
           "TrainingMethod", "check_config", "make_config", "method_names", "train"]
