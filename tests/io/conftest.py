"""Fixtures of the ONNX / VNN-LIB / VNN-COMP file tests."""

from __future__ import annotations

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
