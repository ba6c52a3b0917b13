from __future__ import annotations

from pathlib import Path

import pytest

from llmos_tui.config import LLMOSConfig, describe_keys, load_config
from llmos_tui.errors import ConfigError


def test_presets_differ_and_defaults_match_the_contract() -> None:
    dev, prod, test = LLMOSConfig.development(), LLMOSConfig.production(), LLMOSConfig.testing()
    assert (dev.budget_usd, prod.budget_usd, test.budget_usd) == (1.0, 100.0, 10.0)
    assert test.crons.enabled is False and dev.crons.enabled is True
    assert dev.learning.follower_threshold == 0.92 and dev.learning.mixed_threshold == 0.75
    assert (
        dev.learning.crystallization_min_uses == 5
        and dev.learning.crystallization_min_success == 0.95
    )
    assert (
        dev.crons.user_interval_minutes,
        dev.crons.team_interval_minutes,
        dev.crons.system_interval_minutes,
    ) == (30, 60, 120)
    assert dev.sentience.setpoints == {
        "safety": 0.5,
        "curiosity": 0.0,
        "energy": 0.7,
        "confidence": 0.3,
    }


def test_file_then_env_then_overrides(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "preset: production\nbudget_usd: 7\nlearning:\n  follower_threshold: 0.95\n"
    )
    cfg = load_config(tmp_path, environ={})
    assert (
        cfg.preset == "production"
        and cfg.budget_usd == 7.0
        and cfg.learning.follower_threshold == 0.95
    )
    cfg = load_config(
        tmp_path, environ={"LLMOS_BUDGET_USD": "9", "LLMOS_LEARNING__MIXED_THRESHOLD": "0.8"}
    )
    assert cfg.budget_usd == 9.0 and cfg.learning.mixed_threshold == 0.8
    cfg = load_config(tmp_path, environ={"LLMOS_BUDGET_USD": "9"}, overrides={"budget_usd": 2.5})
    assert cfg.budget_usd == 2.5
    assert cfg.source == str(tmp_path / "config.yaml")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("budget_usd: lots\n", "budget_usd"),
        ("learning:\n  follower_threshold: 1.5\n", "learning.follower_threshold"),
        ("learning:\n  follower_treshold: 0.9\n", "learning.follower_treshold"),
        ("execution:\n  sandbox: docker\n", "execution.sandbox"),
        ("crons:\n  enabled: maybe\n", "crons.enabled"),
        ("sentience:\n  setpoints: {safety: 3}\n", "sentience.setpoints.safety"),
        ("learning:\n  mixed_threshold: 0.95\n", "learning.mixed_threshold"),
        ("- just\n- a list\n", "top level"),
        ("budget_usd: [1\n", "line"),
        ("preset: staging\n", "preset"),
    ],
)
def test_bad_values_name_the_key_and_file(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "config.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    message = info.value.message
    assert needle in message
    assert "config.yaml" in message


def test_bad_env_value_names_the_variable_source() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={"LLMOS_EXECUTION__MAX_TURNS": "many"})
    assert "execution.max_turns" in info.value.message and "environment" in info.value.message


def test_every_key_is_described() -> None:
    keys = {k for k, _h, _d in describe_keys()}
    assert {
        "budget_usd",
        "learning.follower_threshold",
        "crons.user_interval_minutes",
        "execution.sandbox",
        "sentience.half_life_minutes",
    } <= keys
    assert all(h for _k, h, _d in describe_keys())


def test_docs_config_is_current() -> None:
    from pathlib import Path

    from llmos_tui.config_doc import render

    doc = Path(__file__).resolve().parents[2] / "docs" / "CONFIG.md"
    assert doc.read_text() == render(), (
        "docs/CONFIG.md is stale: python -m llmos_tui.config_doc > docs/CONFIG.md"
    )


def test_field_types_read_without_typing_are_the_type_hints() -> None:
    """``_hints`` resolves the annotation strings itself (``get_type_hints`` compiles each one):
    for every section it must give exactly what ``typing.get_type_hints`` gives."""
    from typing import get_type_hints

    import llmos_tui.config as config_module

    sections = [LLMOSConfig] + [type(getattr(LLMOSConfig(), n)) for n in vars(LLMOSConfig())]
    sections = [s for s in sections if hasattr(s, "__dataclass_fields__")]
    assert len(sections) > 5
    for cls in sections:
        hints = get_type_hints(cls)
        assert config_module._hints(cls) == {k: hints[k] for k in config_module._hints(cls)}
        assert set(config_module._hints(cls)) == {f.name for f in config_module.fields(cls)}
