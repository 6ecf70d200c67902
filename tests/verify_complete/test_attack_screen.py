"""The attack's random screen finds counterexamples that gradient steps cannot reach."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from vc_helpers import write_mlp, write_property

from certkit.io import parse_vnnlib
from certkit.io.onnx import OnnxNetwork, load_onnx
from certkit.verify.complete import input_bab
from certkit.verify.complete.attack import Screener, pgd_attack
from certkit.verify.complete.bounders import BoxBounder
from certkit.verify.complete.counterexample import Checker
from certkit.verify.complete.deadline import Deadline
from certkit.verify.complete.spec import RegionSpec


def _needle(tmp_path: Path) -> tuple[OnnxNetwork, RegionSpec, Checker]:
    """y = relu(10^4 x0 - 9999) is flat (zero gradient) except on x0 > 0.9999, a band of
    1e-4 of the box; the property's unsafe set is y >= 0.5, inside the band."""
    ws = [np.array([[1e4, 0.0]], dtype=np.float32), np.array([[1.0]], dtype=np.float32)]
    bs = [np.array([-9999.0], dtype=np.float32), np.array([0.0], dtype=np.float32)]
    net = load_onnx(write_mlp(tmp_path / "needle.onnx", ws, bs))
    prop = parse_vnnlib(write_property(tmp_path / "p.vnnlib", np.zeros(2), np.ones(2),
                                       [(np.array([[-1.0]]), np.array([-0.5]))]))
    return net, RegionSpec.from_region(prop.regions[0]), Checker(net, prop)


def test_screen_finds_a_needle_that_gradients_miss(tmp_path: Path) -> None:
    """64 PGD starts almost never land in the band; a screen of 2^17 points lands in it
    about 13 times."""
    net, spec, checker = _needle(tmp_path)
    assert pgd_attack(net.module, spec, checker, Deadline(30), screen=0) is None
    found = pgd_attack(net.module, spec, checker, Deadline(30))
    assert found is not None and found.x[0] > 0.9999 and found.y[0] >= 0.5


def test_screener_keeps_sampling_chunk_by_chunk(tmp_path: Path) -> None:
    """Chunks of 4,096 uniform points: about 0.4 hits per chunk, so some of the first 40
    hit."""
    net, spec, checker = _needle(tmp_path)
    screener = Screener(net.module, spec, checker, chunk=4096, elite=0)
    found = next((f for f in (screener.step() for _ in range(40)) if f is not None), None)
    assert found is not None and found.x[0] > 0.9999
    assert 4096 <= screener.samples <= 40 * 4096


def test_search_around_the_best_points_finds_what_uniform_points_miss(tmp_path: Path
                                                                     ) -> None:
    """y = |x - c|_1 in [0, 1]^4 is unsafe only where y <= 0.01: an L1 ball of volume
    (0.02)^4 / 4! ~ 7e-9, so 300,000 uniform points hit it with probability ~ 2e-3. The
    violation leads towards c, and the search around the lowest points follows it."""
    c = np.array([0.37, 0.61, 0.23, 0.88])
    eye = np.eye(4, dtype=np.float32)
    ws = [np.concatenate([eye, -eye]), np.ones((1, 8), dtype=np.float32)]
    bs = [np.concatenate([-c, c]).astype(np.float32), np.zeros(1, dtype=np.float32)]
    net = load_onnx(write_mlp(tmp_path / "l1.onnx", ws, bs))
    prop = parse_vnnlib(write_property(tmp_path / "p.vnnlib", np.zeros(4), np.ones(4),
                                       [(np.ones((1, 1)), np.array([0.01]))]))
    spec, checker = RegionSpec.from_region(prop.regions[0]), Checker(net, prop)
    for elite, expect in ((0, False), (256, True)):
        screener = Screener(net.module, spec, checker, chunk=4096, elite=elite, seed=3)
        found = next((f for f in (screener.step() for _ in range(40)) if f is not None), None)
        assert (found is not None) == expect
        if found is not None:
            assert np.abs(found.x - c).sum() <= 0.01 + 1e-5 and found.y[0] <= 0.01 + 1e-5


def test_the_corner_of_the_linear_bound_is_tried(tmp_path: Path) -> None:
    """y = relu(x1) + relu(x2) on [0.1, 1]^2 is unsafe only where y <= 0.25, next to the
    corner (0.1, 0.1): the centre misses it, the corner that minimises the box's linear
    lower bound of y is a counterexample."""
    ws = [np.eye(2, dtype=np.float32), np.ones((1, 2), dtype=np.float32)]
    bs = [np.zeros(2, dtype=np.float32), np.zeros(1, dtype=np.float32)]
    net = load_onnx(write_mlp(tmp_path / "n.onnx", ws, bs))
    lo, hi = np.full(2, 0.1), np.ones(2)
    prop = parse_vnnlib(write_property(tmp_path / "p.vnnlib", lo, hi,
                                       [(np.ones((1, 1)), np.array([0.25]))]))
    spec = RegionSpec.from_region(prop.regions[0])
    bounder = BoxBounder(net.module64, spec.lower, spec.upper)
    blo, bhi = spec.lower[None], spec.upper[None]
    lbm = bounder.lower(blo, bhi, spec.C) - spec.d
    alive = ~spec.proven(lbm + spec.d)
    assert bool(alive.all()) and bounder.coefficients is not None
    checker = Checker(net, prop)
    assert input_bab._try_centres(net.module64, spec, checker, blo, bhi, alive) is None
    found = input_bab._try_vertices(net.module64, spec, checker, blo, bhi, alive, lbm,
                                    bounder.coefficients)
    assert found is not None
    assert np.allclose(found.x, [0.1, 0.1])


def test_the_attacks_screen_seeds_the_screeners_elite(tmp_path: Path) -> None:
    """On a safe region the attack hands its screen's lowest points to the screener: 256
    points of the box, their true violations, in ascending order, none below any other
    screened point's (no second screen is drawn by the first step)."""
    ws = [np.eye(2, dtype=np.float32), np.ones((1, 2), dtype=np.float32)]
    bs = [np.zeros(2, dtype=np.float32), np.zeros(1, dtype=np.float32)]
    net = load_onnx(write_mlp(tmp_path / "n.onnx", ws, bs))
    prop = parse_vnnlib(write_property(tmp_path / "p.vnnlib", np.full(2, 0.1), np.ones(2),
                                       [(np.ones((1, 1)), np.array([0.1]))]))
    spec, checker = RegionSpec.from_region(prop.regions[0]), Checker(net, prop)
    screener = Screener(net.module, spec, checker, chunk=4096)
    assert pgd_attack(net.module, spec, checker, Deadline(30), screen=4096,
                      screener=screener) is None
    x, v = screener.elite_x, screener.elite_v
    assert x.shape == (256, 2) and screener.samples == 4096
    assert bool(((x >= 0.1) & (x <= 1)).all()) and bool((v[1:] >= v[:-1]).all())
    assert torch.allclose(v, spec.violation(net.module(x)).amin(dim=1))
    assert float(v[-1]) < 0.5  # the lowest 1/16 of the points: y - 0.1 below about 0.42
    screener.step()
    assert screener.samples == 2 * 4096
