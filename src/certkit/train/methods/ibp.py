"""IBP certified training (Gowal et al. 2018) with the recipe of Shi et al. 2021."""

from __future__ import annotations

from .certified import CertifiedTraining


class IBP(CertifiedTraining):
    """Robust CE on interval bounds over the whole eps-ball.

    Combine with ``--eps-schedule smoothed --eps-ramp-epochs N`` (Shi et al.'s ramp),
    ``--ibp-init`` (on by default) and ``--warmup-reg`` (default 0.5 with BatchNorm, else 0);
    ``--kappa`` mixes in the natural loss.
    """

    name = "ibp"
    summary = "robust CE on interval (Box) bounds of the eps-ball"
    reference = "Gowal et al. 2018; Shi et al. 2021 (init, warm-up, ramp)"
