"""Training state for --resume: model, optimizer and RNG state as safetensors + JSON.

Written after every epoch as ONE file, ``RUN_DIR/checkpoint/state.safetensors``, replaced
atomically: the tensors and the JSON metadata (epochs completed, optimizer settings) travel
together in the safetensors header, so a kill at any instant leaves either the previous
checkpoint or the new one, never a mix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save
from torch import nn

from ..errors import CertkitError
from ..runs import write_bytes_atomic

STATE_DIR = "checkpoint"
STATE_FILE = "state.safetensors"


def _split_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entry in sd["state"].items():
        for key, val in entry.items():
            if isinstance(val, torch.Tensor):
                tensors[f"optim/{idx}/{key}"] = val
            else:
                scalars.setdefault(str(idx), {})[key] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _join_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, val in tensors.items():
        if key.startswith("optim/"):
            _, idx, name = key.split("/", 2)
            state.setdefault(int(idx), {})[name] = val
    for idx, entry in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(entry)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_state(run_dir: Path, model: nn.Module, opt: torch.optim.Optimizer, epoch: int) -> None:
    """Checkpoint after ``epoch`` (0-based) completed."""
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    opt_tensors, opt_meta = _split_optimizer(opt)
    tensors.update(opt_tensors)
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda{i}"] = s
    meta = {"epochs_completed": epoch + 1, "optimizer": opt_meta}
    data = st_save({k: v.detach().cpu().contiguous() for k, v in tensors.items()},
                   metadata={"certkit_state": json.dumps(meta)})
    write_bytes_atomic(run_dir / STATE_DIR / STATE_FILE, data)


def has_state(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a resumable checkpoint."""
    return (run_dir / STATE_DIR / STATE_FILE).is_file()


def load_state(run_dir: Path, model: nn.Module, opt: torch.optim.Optimizer,
               device: torch.device) -> int:
    """Restore model, optimizer and RNG state; return the number of epochs completed."""
    d = run_dir / STATE_DIR / STATE_FILE
    try:
        with safe_open(d, framework="pt") as fh:
            meta = json.loads((fh.metadata() or {})["certkit_state"])
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    except (OSError, SafetensorError, KeyError, json.JSONDecodeError) as err:
        raise CertkitError(f"checkpoint {d} is corrupt or not a certkit checkpoint") from err
    model_sd = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
    try:
        model.load_state_dict(model_sd, strict=True)
        opt.load_state_dict(_join_optimizer(tensors, meta["optimizer"]))
    except (RuntimeError, KeyError, ValueError) as err:
        raise CertkitError(f"checkpoint {d} does not fit this run's model: {err}") from err
    for state in opt.state.values():  # optimizer tensors follow the parameters' device
        for k, v in state.items():
            if isinstance(v, torch.Tensor) and k != "step":
                state[k] = v.to(device)
    torch.set_rng_state(tensors["rng/torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng/cuda")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    return int(meta["epochs_completed"])
