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
from pathlib import Path

from audiomanip.errors import PresetFileError

FILE = "unsupported.json"


def _fail(where: str, message: str) -> PresetFileError:
    return PresetFileError(f"presets/{where}: {message}")


@dataclass(frozen=True)
class UnsupportedRequest:
    """One kind of request: its name, trigger substrings, patterns and the note shown for it.

    The patterns are compiled on first use, and only tried on a prompt that contains one of the
    triggers, so that the common prompt costs a few substring tests."""

    name: str
    triggers: tuple[str, ...]
    patterns: tuple[str, ...]
    note: str

    @functools.cached_property
    def compiled(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(rf"\b(?:{p})\b", re.IGNORECASE) for p in self.patterns)

    def matches(self, prompt: str) -> bool:
        low = prompt.lower()
        if not any(t in low for t in self.triggers):
            return False
        return any(p.search(prompt) for p in self.compiled)


def _path() -> Path:
    import audiomanip.presets

    return Path(audiomanip.presets.__file__).parent / FILE


@functools.cache
def load_unsupported() -> tuple[UnsupportedRequest, ...]:
    """The requests of ``presets/unsupported.json`` (PresetFileError naming a malformed entry;
    :func:`validate_unsupported` also compiles every pattern)."""
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise _fail(FILE, f"cannot be read: {exc}") from None
    raw = data.get("requests") if isinstance(data, Mapping) else None
    if not isinstance(raw, Mapping) or not raw:
        raise _fail(FILE, "missing the 'requests' mapping")
    out = []
    for name, entry in raw.items():
        where = f"{FILE}: request {name!r}"
        if not isinstance(entry, Mapping) or set(entry) != {"triggers", "patterns", "note"}:
            raise _fail(where, "needs exactly the keys 'triggers', 'patterns' and 'note'")
        note = " ".join(str(entry["note"]).split())
        pats, trig = entry["patterns"], entry["triggers"]
        if not note or not isinstance(pats, list) or not pats or not isinstance(trig, list) or not trig:
            raise _fail(where, "needs a note and non-empty lists of triggers and patterns")
        out.append(UnsupportedRequest(str(name), tuple(str(t).lower() for t in trig), tuple(map(str, pats)), note))
    return tuple(out)


def validate_unsupported() -> int:
    """Compile every pattern and check that each names one of its request's triggers (a pattern
    without one could never be tried). Returns the number of patterns; PresetFileError otherwise."""
    n = 0
    for r in load_unsupported():
        where = f"{FILE}: request {r.name!r}"
        for p in r.patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise _fail(where, f"pattern {p!r} is not a regular expression: {exc}") from None
            if not any(t in p.lower() for t in r.triggers):
                raise _fail(where, f"pattern {p!r} contains none of the triggers {list(r.triggers)}")
            n += 1
    return n


def unsupported_notes(prompt: str) -> list[str]:
    """One note per kind of unsupported request in ``prompt`` (in file order; none for most)."""
    text = " ".join(str(prompt).split())
    return [r.note for r in load_unsupported() if r.matches(text)]
