"""Hugging Face offline switches, set while a text encoder loads.

audiomanip never downloads model weights on its own. While an encoder loads,
``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` default to ``1`` unless the caller allows
downloads; values the user set are honoured as they are. The previous environment is restored
afterwards.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_TRUE = {"1", "true", "yes", "on"}


def offline_by_environment() -> bool:
    """True when the user's environment switches the Hugging Face hub off."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in OFFLINE_VARIABLES)


@contextmanager
def offline_environment(allow_download: bool = False) -> Iterator[None]:
    """Within the block, the offline variables default to ``1`` (unless ``allow_download``);
    variables the user set keep their values. The environment is restored on exit."""
    saved = {name: os.environ.get(name) for name in OFFLINE_VARIABLES}
    try:
        if not allow_download:
            for name in OFFLINE_VARIABLES:
                os.environ.setdefault(name, "1")
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
