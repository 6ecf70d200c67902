"""Marabou (maraboupy, a test extra) as an independent oracle on small random properties."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest
from vc_helpers import make_instance

from certkit.io import parse_vnnlib
from certkit.io.onnx import load_onnx
from certkit.verify.complete import verify


def _marabou(onnx_path: Path, prop_path: Path, timeout: int = 20) -> str:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from maraboupy import Marabou
    net = Marabou.read_onnx(str(onnx_path))
    opts = Marabou.createOptions(verbosity=0, timeoutInSeconds=timeout)
    with contextlib.redirect_stdout(io.StringIO()):
        code, _, _ = net.solve(propertyFilename=str(prop_path), options=opts, verbose=False)
    return code.lower()


@pytest.mark.parametrize("seed", range(6))
def test_no_disagreement_with_marabou(tmp_path: Path, seed: int) -> None:
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import maraboupy  # noqa: F401
    except (ImportError, OSError):
        pytest.skip("maraboupy is not installed (pip install maraboupy==2.0.0)")
    if os.environ.get("CERTKIT_SKIP_MARABOU"):
        pytest.skip("CERTKIT_SKIP_MARABOU is set")
    unsafe = [[True], [False], [False, True], [False, False], [True, False], [False]][seed]
    onnx_path, prop_path, _ = make_instance(tmp_path, 100 + seed, 2, 1 + seed % 2, unsafe,
                                            plain=True)
    ours = verify(load_onnx(onnx_path), parse_vnnlib(prop_path), timeout=20).status
    theirs = _marabou(onnx_path, prop_path)
    assert ours in ("sat", "unsat")
    if theirs in ("sat", "unsat"):
        assert ours == theirs
    assert ours == ("sat" if any(unsafe) else "unsat")
