"""Requests the chain cannot carry out ("less reverb", "remove the noise", "de-ess", ...).

``presets/unsupported.json`` lists, per kind of request, regular expressions and the one-line
note a prompt that matches gets (:func:`unsupported_notes`). Runtime code on the path of every
prompt: it imports no torch, no YAML and not the corpus (JSON and ``re`` only), so that a cold
``apply`` does not get slower.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from audiomanip.errors import PresetFileError

FILE = "unsupported.json"


def _fail(where: str, message: str) -> PresetFileError:
    return PresetFileError(f"presets/{where}: {message}")


@dataclass(frozen=True)
class UnsupportedRequest:
    """One kind of request: its name, compiled patterns and the note shown for it."""

    name: str
    patterns: tuple[re.Pattern[str], ...]
    note: str

    def matches(self, prompt: str) -> bool:
        return any(p.search(prompt) for p in self.patterns)


@functools.cache
def load_unsupported() -> tuple[UnsupportedRequest, ...]:
    """The validated requests of ``presets/unsupported.json`` (PresetFileError naming the entry)."""
    path = resources.files("audiomanip.presets") / FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise _fail(FILE, f"cannot be read: {exc}") from None
    raw = data.get("requests") if isinstance(data, Mapping) else None
    if not isinstance(raw, Mapping) or not raw:
        raise _fail(FILE, "missing the 'requests' mapping")
    out = []
    for name, entry in raw.items():
        where = f"{FILE}: request {name!r}"
        if not isinstance(entry, Mapping) or set(entry) != {"patterns", "note"}:
            raise _fail(where, "needs exactly the keys 'patterns' and 'note'")
        note = " ".join(str(entry["note"]).split())
        pats = entry["patterns"]
        if not note or not isinstance(pats, list) or not pats:
            raise _fail(where, "needs a note and a non-empty list of patterns")
        compiled = []
        for p in pats:
            try:
                compiled.append(re.compile(rf"\b(?:{p})\b", re.IGNORECASE))
            except re.error as exc:
                raise _fail(where, f"pattern {p!r} is not a regular expression: {exc}") from None
        out.append(UnsupportedRequest(str(name), tuple(compiled), note))
    return tuple(out)


def unsupported_notes(prompt: str) -> list[str]:
    """One note per kind of unsupported request in ``prompt`` (in file order; none for most)."""
    text = " ".join(str(prompt).split())
    return [r.note for r in load_unsupported() if r.matches(text)]
