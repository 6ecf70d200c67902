"""Configuration: YAML files, overrides, validation of names, types and ranges."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from certkit.errors import CertkitError
from certkit.train import TrainConfig, make_config
from certkit.train.schedules import eps_at, lr_at


def test_file_then_overrides(tmp_path: Path) -> None:
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("model: mlp-2x10\nepochs: 3\nlr: 0.01\nmilestones: [1, 2]\n")
    cfg = make_config(cfg_file, epochs=5, batch_size=None)
    assert (cfg.model, cfg.epochs, cfg.lr, cfg.milestones) == ("mlp-2x10", 5, 0.01, [1, 2])
    assert cfg.batch_size == TrainConfig().batch_size


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("epoch: 3\n", "unknown config key 'epoch'"),
        ("epochs: three\n", "must be an integer"),
        ("lr: [1]\n", "must be a number"),
        ("download: 1\n", "true or false"),
        ("milestones: 5\n", "must be a list"),
        ("- a\n- b\n", "mapping"),
        ("a: [\n", "not valid YAML"),
        ("model: resnet\n", "unknown model"),
        ("method: magic\n", "unknown training method 'magic'; valid: standard"),
        ("optimizer: lbfgs\n", "valid: adam, sgd"),
        ("epochs: 0\n", "epochs must be >= 1"),
        ("eps: -0.1\n", "eps must be >= 0"),
        ("lr_schedule: milestones\n", "needs --milestones"),
    ],
)
def test_bad_configs_give_one_clear_error(tmp_path: Path, text: str, match: str) -> None:
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(text)
    with pytest.raises(CertkitError, match=match):
        make_config(cfg_file)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(CertkitError, match="not found"):
        make_config(tmp_path / "none.yaml")


def test_lr_schedules_by_hand() -> None:
    cfg = make_config(lr=1.0, epochs=4, lr_schedule="milestones", milestones=[1, 3], gamma=0.5)
    assert [lr_at(cfg, e, 0.0) for e in range(4)] == [1.0, 0.5, 0.5, 0.25]
    cos = make_config(lr=2.0, epochs=4, lr_schedule="cosine")
    assert lr_at(cos, 0, 0.0) == pytest.approx(2.0)
    assert lr_at(cos, 2, 0.0) == pytest.approx(1.0)  # half way: cos(pi/2) = 0
    assert lr_at(cos, 3, 0.5) == pytest.approx(1.0 + math.cos(3.5 / 4 * math.pi))


def test_constant_eps_schedule_never_exceeds_target() -> None:
    cfg = make_config(eps=0.1, eps_start_epoch=2, epochs=5)
    values = [eps_at(cfg, e, f) for e in range(5) for f in (0.0, 0.5, 0.99)]
    assert max(values) == 0.1 and values[:6] == [0.0] * 6 and values[6:] == [0.1] * 9


def test_config_module_needs_no_registry() -> None:
    """The configuration is parsed without the model, method or schedule registries (they
    import it; :mod:`certkit.train.configure` checks names against them): no import of
    them anywhere in ``train/config.py``, function bodies included."""
    import ast

    import certkit.train.config as config

    tree = ast.parse(Path(config.__file__).read_text(encoding="utf-8"))
    imported = [(n.level, n.module or "") for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [(0, a.name) for n in ast.walk(tree) if isinstance(n, ast.Import)
                 for a in n.names]
    assert not [m for level, m in imported
                if level and m.split(".")[0] in ("methods", "models", "schedules", "loop")]
