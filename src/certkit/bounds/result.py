"""Options and results shared by every bound method."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from .graph import Graph

Interval = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class BoundOptions:
    """Knobs of the bound methods (defaults follow the reference implementations).

    ``alpha_iterations``/``alpha_lr``/``alpha_lr_decay``: Adam steps on the lower ReLU slopes
    of alpha-CROWN (auto_LiRPA's defaults: 20, 0.5, 0.98). ``beta_iterations``/``beta_lr``:
    beta-CROWN's joint steps on slopes and split multipliers after the alpha stage (only
    on domains with split constraints; alpha-beta-CROWN's beta rate 0.05).
    ``tighten_stable``: CROWN also back-substitutes neurons whose interval bounds already
    decide their ReLU state (this changes intermediate bounds only, never the output
    bound). ``chunk_elements``: the most coefficient entries one batched pass may hold;
    larger jobs are split into row chunks.
    """

    alpha_iterations: int = 20
    alpha_lr: float = 0.5
    alpha_lr_decay: float = 0.98
    beta_iterations: int = 20
    beta_lr: float = 0.05
    tighten_stable: bool = False
    chunk_elements: int = 1 << 25


@dataclass
class BoundResult:
    """Bounds of ``C @ f(x)`` (``lower``/``upper``, shape (B, m)) and per-node bounds.

    ``nodes`` maps node indices of ``graph`` to the elementwise bounds the method computed
    (for every node with ``ibp``/``crown``; at least the ReLU inputs for the others).
    """

    lower: Tensor
    upper: Tensor
    method: str
    graph: Graph
    nodes: dict[int, Interval] = field(default_factory=dict, repr=False)

    def pre_activation_bounds(self) -> list[tuple[str, Tensor, Tensor]]:
        """``(name, lower, upper)`` of the input of every ReLU, in order."""
        out = []
        for i in self.graph.relu_nodes:
            j = self.graph.nodes[i].inputs[0]
            if j in self.nodes:
                out.append((self.graph.nodes[j].name, *self.nodes[j]))
        return out
