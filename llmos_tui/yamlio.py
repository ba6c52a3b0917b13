"""YAML parsing with libyaml when PyYAML was built with it (several times faster to load the
workspace's config.yaml on every start), with the pure-Python loader otherwise. Both are *safe*
loaders: plain data only, no Python objects; errors are the same ``yaml.YAMLError`` types, with
``problem_mark`` lines."""

from __future__ import annotations

from typing import Any

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    return yaml.load(text, Loader=LOADER)  # noqa: S506 - a safe loader (CSafeLoader or SafeLoader)
