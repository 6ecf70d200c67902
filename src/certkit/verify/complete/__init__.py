"""Complete verification: attack, branch and bound (input and ReLU splitting), MILP.

``verify(net, prop, timeout=...)`` decides a parsed VNN-LIB property on an imported ONNX
network; ``verify_instance`` / ``verify_instances`` are the file-level functions behind
``certkit verify`` (VNN-COMP result files and results CSVs).
"""

from .instances import verify_instance, verify_instances
from .result import STATUSES, Counterexample, Verdict
from .verifier import BOUNDERS, STRATEGIES, VerifyOptions, verify

__all__ = ["BOUNDERS", "STATUSES", "STRATEGIES", "Counterexample", "Verdict", "VerifyOptions",
           "verify", "verify_instance", "verify_instances"]
