"""The oval21 CIFAR-10 networks (Conv, Gemm, Flatten, Relu) import and match onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from certkit.io.onnx import load_onnx
from certkit.verify.complete.chain import extract_chain
from certkit.verify.complete.conv_map import ConvMap

NETS = ("cifar_base_kw", "cifar_deep_kw", "cifar_wide_kw")


@pytest.mark.parametrize("name", NETS)
def test_oval21_network_matches_onnxruntime(benchmarks: Path, name: str) -> None:
    path = benchmarks / "oval21" / "onnx" / f"{name}.onnx"
    if not path.exists():
        pytest.skip(f"{path} not found")
    net = load_onnx(path)
    assert (net.n_inputs, net.n_outputs) == (3 * 32 * 32, 10)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).random((4, 3, 32, 32), dtype=np.float32)
    ref = np.concatenate([sess.run(None, {inp.name: x[i:i + 1]})[0] for i in range(4)])
    with torch.no_grad():
        got = net.module(torch.from_numpy(x).reshape(4, -1)).numpy()
    assert np.abs(ref - got).max() <= 1e-5 * (1 + np.abs(ref).max())
    chain = extract_chain(net.module64, net.n_inputs)  # ReLU branch and bound takes it
    assert chain is not None and isinstance(chain.maps[0], ConvMap)  # kernels, not matrices
    ref64 = chain.forward(torch.from_numpy(x.astype(np.float64)).reshape(4, -1)).numpy()
    assert np.abs(ref - ref64).max() <= 1e-5 * (1 + np.abs(ref).max())
