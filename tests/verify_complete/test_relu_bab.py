"""ReLU branch and bound with intermediate bounds carried from parent to children.

With ``refresh``, a child starts from its parent's recomputed ReLU-input bounds and
recomputes the layers after its newest split. Checked on small random deep MLPs: every
bound handed to a subdomain and every bound it hands on contains the pre-activations of
sampled inputs that satisfy its splits, children never widen their parent's bounds, and
the verdicts equal the constructed truth with refresh on and off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from vc_helpers import make_instance

from certkit.bounds.subdomains import SubdomainBounder
from certkit.io import parse_vnnlib
from certkit.io.onnx import load_onnx
from certkit.verify.complete.chain import extract_chain
from certkit.verify.complete.counterexample import Checker
from certkit.verify.complete.deadline import Deadline
from certkit.verify.complete.milp import solve_milp
from certkit.verify.complete.relu_bab import ReluBab
from certkit.verify.complete.spec import RegionSpec


def _pre_activations(model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The input of every ReLU of the Sequential ``model`` on inputs ``x``."""
    out, h = [], x
    for layer in model:
        if isinstance(layer, torch.nn.ReLU):
            out.append(h)
        h = layer(h)
    return out


def _search(tmp_path: Path, seed: int, unsafe: list[bool], refresh: bool
            ) -> tuple[str, list[dict[str, Any]], ReluBab, RegionSpec]:
    onnx_path, prop_path, _ = make_instance(tmp_path, seed, 3, 4, unsafe)
    net, prop = load_onnx(onnx_path), parse_vnnlib(prop_path)
    spec = RegionSpec.from_region(prop.regions[0])
    chain = extract_chain(net.module64, net.n_inputs)
    assert chain is not None
    bounder = SubdomainBounder(net.module64, spec.lower[None], spec.upper[None])
    calls: list[dict[str, Any]] = []
    inner = bounder.bound

    def spy(splits: list[torch.Tensor], C: torch.Tensor, given: list[Any],
            **kw: Any) -> Any:
        res = inner(splits, C, given, **kw)
        calls.append({"splits": splits, "given": given, "res": res,
                      "refresh_from": kw.get("refresh_from")})
        return res

    bounder.bound = spy  # type: ignore[method-assign]
    root = bounder.root_bounds(5)
    status = "unsat"
    search = None
    for g in range(spec.n_groups):
        rows = torch.nonzero(spec.group == g).flatten()
        search = ReluBab(chain, net.module64, spec, rows, Checker(net, prop),
                         ([lo for lo, _ in root], [hi for _, hi in root]), bounder=bounder,
                         leaf_unstable=0, refresh=refresh, iterations=3)
        out = search.run(Deadline(30))
        if out.status != "unsat":
            status = out.status
            break
    assert search is not None
    return status, calls, search, spec


@pytest.mark.parametrize("seed,unsafe", [(37, [False, False]), (40, [False, True]),
                                         (38, [False, False]), (43, [False, True])])
def test_verdicts_equal_the_truth_with_and_without_refresh(tmp_path: Path, seed: int,
                                                           unsafe: list[bool]) -> None:
    for refresh in (True, False):
        status, calls, _, _ = _search(tmp_path, seed, unsafe, refresh)
        assert status == ("sat" if any(unsafe) else "unsat"), (seed, refresh)
        assert calls


def test_inherited_bounds_are_sound_and_never_widen(tmp_path: Path) -> None:
    """Every subdomain's given and recomputed ReLU-input bounds contain the pre-activations
    of the sampled inputs that satisfy its splits; recomputed bounds lie inside the given
    ones; and some child really is handed bounds tighter than the root's."""
    seen = tighter = 0
    for seed in (38, 40, 44):
        status, calls, search, spec = _search(tmp_path, seed, [False, False], True)
        assert status == "unsat"
        gen = torch.Generator().manual_seed(seed)
        x = spec.lower + (spec.upper - spec.lower) * torch.rand(
            20000, spec.lower.numel(), generator=gen, dtype=spec.lower.dtype)
        z = _pre_activations(search.chain.module(), x)
        for call in calls:
            splits, given, res = call["splits"], call["given"], call["res"]
            n = splits[0].shape[0]
            for b in range(n):
                ok = torch.ones(x.shape[0], dtype=torch.bool)
                for zk, sk in zip(z, splits, strict=True):
                    s = sk[b].to(zk.dtype)
                    ok &= ((zk * s) >= 0).all(dim=1)  # s = 0: no constraint
                if not bool(ok.any()):
                    continue
                seen += 1
                for k, zk in enumerate(z):
                    glo, ghi = (t.expand(n, -1)[b] for t in given[k])
                    rlo, rhi = res.pre_bounds[k][0][b], res.pre_bounds[k][1][b]
                    pts = zk[ok]
                    assert bool((pts >= glo - 1e-9).all() and (pts <= ghi + 1e-9).all())
                    assert bool((pts >= rlo - 1e-9).all() and (pts <= rhi + 1e-9).all())
                    assert bool((rlo >= glo - 1e-12).all() and (rhi <= ghi + 1e-12).all())
                    root_lo, root_hi = search.lows[k][0], search.ups[k][0]
                    tighter += int(bool((glo > root_lo + 1e-9).any()
                                        or (ghi < root_hi - 1e-9).any()))
    assert seen > 0
    assert tighter > 0


def test_refresh_starts_after_the_newest_split(tmp_path: Path) -> None:
    """Children are recomputed from the layer of the neuron they were split on (the least
    such layer of the batch), and never at the last layer."""
    _, calls, search, _ = _search(tmp_path, 40, [False, False], True)
    last = len(search.sizes) - 1
    for call in calls:
        r = call["refresh_from"]
        assert r is None or 0 <= r < last
    assert any(c["refresh_from"] is not None for c in calls)
    layer = search.layer_of(torch.tensor([0, search.sizes[0] - 1, search.sizes[0],
                                          sum(search.sizes) - 1]))
    assert layer.tolist() == [0, 0, 1, last]
    np.testing.assert_array_equal(search.layer_of(torch.arange(sum(search.sizes))).bincount(),
                                  search.sizes)


@pytest.mark.parametrize("encoding", ["layered", "compact"])
def test_milp_keeps_splits_its_clamped_bounds_do_not_imply(tmp_path: Path,
                                                          encoding: str) -> None:
    """A leaf's MILP given its subdomain's bounds, already clamped by the splits (an
    inactive neuron's upper bound 0, an active one's lower bound 0), has the optimum it
    has with the unclamped root bounds: the split constraints stay in the program."""
    onnx_path, prop_path, _ = make_instance(tmp_path, 40, 3, 4, [False])
    net, prop = load_onnx(onnx_path), parse_vnnlib(prop_path)
    spec = RegionSpec.from_region(prop.regions[0])
    chain = extract_chain(net.module64, net.n_inputs)
    assert chain is not None
    root = SubdomainBounder(net.module64, spec.lower[None], spec.upper[None]).root_bounds(0)
    lows, ups = [lo[0] for lo, _ in root], [hi[0] for _, hi in root]
    gen = torch.Generator().manual_seed(0)
    checked = 0
    for _ in range(12):
        splits = []
        for lo, hi in zip(lows, ups, strict=True):
            s = torch.randint(-1, 2, lo.shape, generator=gen).to(torch.int8)
            splits.append(torch.where((lo < 0) & (hi > 0), s, torch.zeros_like(s)))
        cl = [torch.where(s > 0, lo.clamp(min=0), lo) for lo, s in zip(lows, splits,
                                                                        strict=True)]
        cu = [torch.where(s < 0, hi.clamp(max=0), hi) for hi, s in zip(ups, splits,
                                                                       strict=True)]
        opt = [solve_milp(chain, spec.lower, spec.upper, spec.C, spec.d, lo_, up_, splits,
                          margin=float("inf"), encoding=encoding)
               for lo_, up_ in ((lows, ups), (cl, cu))]
        assert opt[0].status == opt[1].status
        if np.isfinite(opt[0].objective):
            checked += 1
            assert opt[1].objective == pytest.approx(opt[0].objective, abs=1e-6)
    assert checked > 0
