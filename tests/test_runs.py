"""Checkpoints: round trip, and every way a run directory can be broken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from certkit import load_run
from certkit.errors import CertkitError
from certkit.models import build_model
from certkit.runs import append_jsonl, read_jsonl, save_model

META = {"architecture": "mlp-2x16", "input_shape": [1, 8, 8], "num_classes": 10,
        "mean": [0.3], "std": [0.4], "dataset": {"name": "digits"}, "method": "standard",
        "eps": 0.0}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = build_model("mlp-2x16", (1, 8, 8), 10, [0.3], [0.4])
    save_model(tmp_path, model, META)
    return tmp_path


def test_round_trip_gives_the_same_function(run_dir: Path) -> None:
    torch.manual_seed(0)
    original = build_model("mlp-2x16", (1, 8, 8), 10, [0.3], [0.4]).eval()
    run = load_run(run_dir)
    assert not run.model.training
    x = torch.rand(5, 1, 8, 8)
    assert torch.equal(run.model(x), original(x))
    assert run.meta["method"] == "standard" and run.dataset == "digits"
    assert torch.equal(run.model[0].mean, torch.tensor([0.3]))


def test_no_pickle_in_the_checkpoint(run_dir: Path) -> None:
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == ["model.json", "model.safetensors"]
    data = (run_dir / "model.safetensors").read_bytes()
    n = int.from_bytes(data[:8], "little")  # safetensors: u64 header length, JSON header
    header = json.loads(data[8 : 8 + n])
    assert set(header) - {"__metadata__"} == {"0.mean", "0.std", "2.weight", "2.bias",
                                               "4.weight", "4.bias"}


def test_corrupt_weights_are_rejected(run_dir: Path) -> None:
    path = run_dir / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CertkitError, match="does not match"):
        load_run(run_dir)


def test_truncated_weights_with_matching_hash_are_rejected(run_dir: Path) -> None:
    from certkit.runs import sha256

    path = run_dir / "model.safetensors"
    data = path.read_bytes()[:50]
    path.write_bytes(data)
    meta = json.loads((run_dir / "model.json").read_text())
    meta["weights_sha256"] = sha256(data)
    (run_dir / "model.json").write_text(json.dumps(meta))
    with pytest.raises(CertkitError, match="safetensors"):
        load_run(run_dir)


def test_foreign_json_is_rejected(run_dir: Path) -> None:
    (run_dir / "model.json").write_text(json.dumps({"hello": "world"}))
    with pytest.raises(CertkitError, match="not a certkit checkpoint"):
        load_run(run_dir)
    (run_dir / "model.json").write_text("{not json")
    with pytest.raises(CertkitError, match="not valid JSON"):
        load_run(run_dir)


def test_weights_of_another_architecture_are_rejected(run_dir: Path) -> None:
    meta = json.loads((run_dir / "model.json").read_text())
    meta["architecture"] = "mlp-2x32"
    (run_dir / "model.json").write_text(json.dumps(meta))
    with pytest.raises(CertkitError, match="does not fit"):
        load_run(run_dir)


def test_missing_pieces(tmp_path: Path, run_dir: Path) -> None:
    with pytest.raises(CertkitError, match="not found"):
        load_run(tmp_path / "nope")
    (run_dir / "model.safetensors").unlink()
    with pytest.raises(CertkitError, match="weights not found"):
        load_run(run_dir)


def test_jsonl_ignores_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    append_jsonl(path, {"epoch": 1})
    append_jsonl(path, {"epoch": 2})
    with open(path, "a") as fh:
        fh.write('{"epoch": 3, "lo')
    assert read_jsonl(path) == [{"epoch": 1}, {"epoch": 2}]
