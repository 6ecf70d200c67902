"""MILP refinement of intermediate bounds: sound, never looser, exact on small networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from vc_helpers import chain_bounds, grid, make_instance, random_mlp

from certkit.bounds.subdomains import SubdomainBounder
from certkit.errors import CertkitError
from certkit.io import parse_vnnlib
from certkit.io.onnx import load_onnx
from certkit.verify.complete import VerifyOptions
from certkit.verify.complete.chain import Chain, extract_chain
from certkit.verify.complete.counterexample import Checker
from certkit.verify.complete.deadline import Deadline
from certkit.verify.complete.refine import refine_bounds
from certkit.verify.complete.relu_bab import relu_bab
from certkit.verify.complete.spec import RegionSpec


def _pre_activations(chain: Chain, x: torch.Tensor) -> list[torch.Tensor]:
    out = []
    for k in range(len(chain.hidden)):
        x = chain.lin(k, x) + chain.biases[k]
        out.append(x)
        x = x.clamp(min=0)
    return out


def _problem(seed: int, n_in: int, sizes: list[int]) -> tuple[Chain, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    ws, bs = random_mlp(rng, [n_in, *sizes, 2])
    chain = Chain([torch.tensor(w, dtype=torch.float64) for w in ws],
                  [torch.tensor(b, dtype=torch.float64) for b in bs])
    lo = torch.tensor(rng.uniform(-1, 0, n_in))[None]
    hi = lo + torch.tensor(rng.uniform(0.5, 1.5, n_in))[None]
    return chain, lo, hi


@pytest.mark.parametrize("relax", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_refined_bounds_sound_and_never_looser(seed: int, relax: bool) -> None:
    chain, lo, hi = _problem(seed, 3, [8, 8, 8])
    lows, ups = chain_bounds(chain, lo, hi)
    bounder = SubdomainBounder(chain.module(), lo, hi)
    l2, u2, stats = refine_bounds(chain, bounder, lows, ups, Deadline(30), relax=relax)
    x = lo + (hi - lo) * torch.rand(20000, 3, dtype=torch.float64,
                                    generator=torch.Generator().manual_seed(seed))
    for k, z in enumerate(_pre_activations(chain, x)):
        assert bool((l2[k] >= lows[k]).all() and (u2[k] <= ups[k]).all())
        assert bool((z >= l2[k] - 1e-9).all() and (z <= u2[k] + 1e-9).all())
    assert stats.solves > 0
    assert sum(stats.unstable_after) <= sum(stats.unstable_before)


@pytest.mark.parametrize("seed", range(3))
def test_milp_refinement_is_exact_on_two_inputs(seed: int) -> None:
    """With time enough, the MILP bounds of the refined layers are the true extrema: a dense
    grid over the 2-D box comes within its resolution of every bound of an unstable neuron."""
    chain, lo, hi = _problem(10 + seed, 2, [6, 6])
    lows, ups = chain_bounds(chain, lo, hi)
    bounder = SubdomainBounder(chain.module(), lo, hi)
    l2, u2, _ = refine_bounds(chain, bounder, lows, ups, Deadline(30), neuron_seconds=10.0)
    pts = torch.tensor(grid(lo[0].numpy(), hi[0].numpy(), 401))
    z = _pre_activations(chain, pts)[1]
    zmax, zmin = z.amax(0), z.amin(0)
    was_unstable = ((lows[1] < 0) & (ups[1] > 0))[0]
    assert bool(was_unstable.any())
    # the grid's spacing times the layer's Lipschitz bound limits how far it can be off
    width = float((hi - lo).max())
    lip = (chain.weights[1].abs() @ chain.weights[0].abs()).sum(1) * width / 400
    for i in torch.nonzero(was_unstable).flatten().tolist():
        if u2[1][0, i] > 0:  # a neuron refined to inactive keeps the bound that proved it
            assert float(u2[1][0, i] - zmax[i]) <= float(lip[i]) + 1e-6
            assert float(u2[1][0, i] - zmax[i]) >= -1e-6
        if u2[1][0, i] > 0 and l2[1][0, i] < 0:
            assert float(zmin[i] - l2[1][0, i]) <= float(lip[i]) + 1e-6


def test_relu_bab_with_refined_root_bounds_gives_the_truth(tmp_path: Path) -> None:
    """No first search (``refine_after=0``): every group open at the root is searched again
    after MILP refinement; the verdicts equal the constructed truth."""
    refined = 0
    for seed, unsafe in [(21, [False, False]), (22, [False, True]), (23, [False, False, False])]:
        onnx_path, prop_path, _ = make_instance(tmp_path, seed, 3, 3, unsafe)
        net, prop = load_onnx(onnx_path), parse_vnnlib(prop_path)
        spec = RegionSpec.from_region(prop.regions[0])
        chain = extract_chain(net.module64, net.n_inputs)
        assert chain is not None
        out = relu_bab(chain, net.module64, spec, Checker(net, prop), Deadline(60),
                       leaf_unstable=0, refine_after=0.0)
        assert out.status == ("sat" if any(unsafe) else "unsat"), seed
        refined += int(out.stats.get("refine_solves", 0) > 0)
    assert refined  # the refinement ran on at least one instance


@pytest.mark.parametrize("share", [-0.1, 1.0])
def test_refine_share_must_be_a_fraction(share: float) -> None:
    with pytest.raises(CertkitError, match="refine_share"):
        VerifyOptions(refine_share=share).check()
