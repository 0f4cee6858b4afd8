"""The corpus YAML files under ``presets/`` (installed as the package ``audiomanip.presets``):
where they are, reading them (cached, libyaml's ``CSafeLoader`` when available, safe loading
only) and the error that names a file and entry.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

from audiomanip.errors import PresetFileError


def presets_dir() -> Path:
    """The folder that holds the corpus YAML files (the ``audiomanip.presets`` package)."""
    return Path(str(resources.files("audiomanip.presets")))


@functools.cache
def load_yaml(filename: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    path = presets_dir() / filename
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PresetFileError(f"cannot read corpus file {path}: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise PresetFileError(f"{path.name} is not valid YAML: {exc}") from None


def corpus_error(where: str, message: str) -> PresetFileError:
    return PresetFileError(f"presets/{where}: {message}")
