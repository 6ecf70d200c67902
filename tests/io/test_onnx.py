"""ONNX import: agreement with onnxruntime, torch.onnx round trips, clear errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import helper
from onnx_helpers import mlp, save, tensor
from torch import nn

from certkit.bounds import compute_bounds
from certkit.errors import CertkitError
from certkit.io.onnx import check_onnxruntime, load_onnx
from certkit.io.onnx_modules import GraphNet
from certkit.models import build_model


def _export(model: nn.Module, shape: tuple[int, ...], path: Path) -> Path:
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, *shape), str(path), dynamo=False,
                          input_names=["x"], output_names=["y"])
    return path


def _check_bounds(net: object, n: int, method: str = "crown") -> None:
    """The bound engine accepts the imported module and its bounds contain sampled outputs."""
    module = net.module64  # type: ignore[attr-defined]
    lo = torch.rand(2, n, dtype=torch.float64) * 0.5
    hi = lo + 0.05
    lb, ub = compute_bounds(module, lo, hi, method=method)
    x = lo + (hi - lo) * torch.rand(64, 2, n, dtype=torch.float64)
    with torch.no_grad():
        y = module(x.reshape(-1, n)).reshape(64, 2, -1)
    assert bool((y >= lb - 1e-9).all() and (y <= ub + 1e-9).all())


def test_benchmark_networks_agree_with_onnxruntime(benchmarks: Path) -> None:
    files = [*sorted((benchmarks / "acasxu").glob("*.onnx"))[::11],
             *sorted((benchmarks / "mnist_fc").glob("*.onnx")),
             *sorted((benchmarks / "vnncomp_test").glob("*.onnx"))]
    rng = np.random.default_rng(0)
    for f in files:
        net = load_onnx(f)  # checks 8 random inputs itself
        assert isinstance(net.module, nn.Sequential)
        x = rng.uniform(-1, 1, (16, net.n_inputs))
        assert check_onnxruntime(net, x) <= 1e-5
        diff = np.abs(net.run_torch(x, torch.float64) - net.run_onnxruntime(x))
        assert float(diff.max()) <= 1e-4
    acas = load_onnx(files[0])
    assert acas.input_shape == (1, 1, 1, 5) and acas.n_outputs == 5
    assert [type(m).__name__ for m in acas.module][:2] == ["Linear", "ReLU"]  # Sub folded
    _check_bounds(acas, 5)


@pytest.mark.parametrize(("name", "side"), [("mlp-3x16", 8), ("conv-small", 12),
                                          ("cnn1-bn2", 8)])
def test_certkit_models_round_trip(tmp_path: Path, name: str, side: int) -> None:
    torch.manual_seed(0)
    shape = (1, side, side)
    model = build_model(name, shape, 4, mean=[0.3], std=[0.2])
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    model.eval()
    net = load_onnx(_export(model, shape, tmp_path / "m.onnx"))
    x = torch.rand(8, *shape)
    with torch.no_grad():
        ref = model(x).numpy()
    got = net.run_torch(x.reshape(8, -1).numpy())
    assert np.abs(got - ref).max() <= 1e-5 * max(1.0, float(np.abs(ref).max()))
    _check_bounds(net, side * side, "crown" if name == "mlp-3x16" else "ibp")


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 6)
        self.b = nn.Linear(6, 6)
        self.out = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.a(x))
        h = h + torch.relu(self.b(h)) - 0.5 * x
        return self.out(h / 2.0)


def test_residual_graph_becomes_a_graphnet(tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = load_onnx(_export(_Residual(), (6,), tmp_path / "r.onnx"))
    assert isinstance(net.module, GraphNet)
    _check_bounds(net, 6)


def test_unbatched_matmul_and_reshapes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["x2"], name="r1"),
        helper.make_node("MatMul", ["W", "x2"], ["h"], name="mm"),  # W @ x (column)
        helper.make_node("Squeeze", ["h", "ax"], ["h1"], name="sq"),
        helper.make_node("Relu", ["h1"], ["r"], name="relu"),
        helper.make_node("Unsqueeze", ["r", "ax0"], ["r2"], name="unsq"),
        helper.make_node("MatMul", ["r2", "V"], ["m"], name="mm2"),  # row @ V
        helper.make_node("Div", ["m", "two"], ["d"], name="div"),
        helper.make_node("Sub", ["one", "d"], ["y0"], name="sub"),
        helper.make_node("Flatten", ["y0"], ["y"], name="flat", axis=0),
    ]
    inits = [tensor("shape", np.array([4, 1])), tensor("W", rng.normal(size=(5, 4))),
             tensor("ax", np.array([1])), tensor("ax0", np.array([0])),
             tensor("V", rng.normal(size=(5, 3))), tensor("two", np.array([2.0])),
             tensor("one", np.ones(3))]
    net = load_onnx(save(nodes, inits, [4], None, tmp_path / "u.onnx"))
    assert net.n_inputs == 4 and net.n_outputs == 3
    _check_bounds(net, 4)


def test_conv_batchnorm_avgpool_clip_graph(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1],
                         strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["bn"], name="bn"),
        helper.make_node("Clip", ["bn", "lo", ""], ["cl"], name="clip"),
        helper.make_node("AveragePool", ["cl"], ["p"], name="pool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Transpose", ["Wt"], ["Wl"], name="tr", perm=[1, 0]),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "Wl"], ["y"], name="gemm"),
    ]
    inits = [tensor("W", rng.normal(size=(3, 2, 3, 3))), tensor("B", rng.normal(size=3)),
             tensor("g", rng.uniform(0.5, 2, 3)), tensor("b", rng.normal(size=3)),
             tensor("m", rng.normal(size=3)), tensor("v", rng.uniform(0.5, 2, 3)),
             tensor("lo", np.array(-0.2)), tensor("Wt", rng.normal(size=(4, 12)))]
    net = load_onnx(save(nodes, inits, ["N", 2, 8, 8], ["N", 4], tmp_path / "c.onnx"))
    assert net.batched and net.input_shape == (1, 2, 8, 8)
    _check_bounds(net, 128)


def test_unsupported_operator_names_op_and_node(tmp_path: Path) -> None:
    w = np.ones((3, 2))
    path = save([helper.make_node("Gemm", ["x", "W"], ["h"], name="g", transB=1),
                 helper.make_node("Sigmoid", ["h"], ["y"], name="squash")],
                [tensor("W", w)], [1, 2], [1, 3], tmp_path / "s.onnx")
    with pytest.raises(CertkitError, match=r"node 'squash' \(Sigmoid\).*unsupported ONNX "
                                           r"operator 'Sigmoid'"):
        load_onnx(path)


@pytest.mark.parametrize(
    ("node", "inits", "words"),
    [
        (helper.make_node("Mul", ["x", "x"], ["y"], name="sq"), [], "not linear"),
        (helper.make_node("Transpose", ["x"], ["y"], name="t", perm=[1, 0]), [],
         "reorders the data"),
        (helper.make_node("Add", ["x", "c"], ["y"], name="bc"), [tensor("c", np.ones((3, 2)))],
         "change the shape"),
        (helper.make_node("Conv", ["x", "W"], ["y"], name="c1"),
         [tensor("W", np.ones((1, 1, 1)))], "4-D input"),
    ],
)
def test_nonlinear_or_unsupported_uses_are_errors(tmp_path: Path, node: onnx.NodeProto,
                                                  inits: list, words: str) -> None:
    path = save([node], inits, [2, 2], None, tmp_path / "e.onnx")
    with pytest.raises(CertkitError, match=words):
        load_onnx(path)


def test_bad_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01not a model at all" * 10)
    with pytest.raises(CertkitError, match="junk.onnx"):
        load_onnx(junk)
    with pytest.raises(CertkitError, match="No such file"):
        load_onnx(tmp_path / "missing.onnx")


def test_mlp_helper_and_gzip(tmp_path: Path) -> None:
    import gzip

    rng = np.random.default_rng(2)
    path = mlp([rng.normal(size=(4, 3)), rng.normal(size=(2, 4))],
               [rng.normal(size=4), rng.normal(size=2)], tmp_path / "m.onnx")
    gz = tmp_path / "m.onnx.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    a, b = load_onnx(path), load_onnx(gz)
    x = rng.normal(size=(5, 3))
    assert np.array_equal(a.run_torch(x), b.run_torch(x))
