"""Where results go and what is written beside them.

``apply`` writes, by default, one folder per run::

    output/<YYYYmmdd_HHMMSS>_<slug>/
        <slug>.<ext>          the processed audio (same format, rate, channels as the input)
        <slug>_preset.json    {"schema_version", "created", "prompt", "source", "model", "preset": {...}}
        metadata.txt          input, duration, rate, channels, device, time taken, loudness

The slug is made from the prompt (or preset name) and is safe as a file name on any system.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from audiomanip.errors import OutputError
from audiomanip.params import SCHEMA_VERSION, Preset

#: Longest slug in characters (file systems allow 255 bytes; leave room for suffixes).
SLUG_MAX_CHARS = 48
#: Slug of a text that holds nothing usable.
SLUG_FALLBACK = "preset"
#: Names Windows refuses as file names, whatever the extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def slugify(text: str, max_chars: int = SLUG_MAX_CHARS) -> str:
    """A file-name-safe slug of ``text``: lowercase ASCII letters, digits, ``_`` and ``-``.

    Unicode is folded to ASCII (``"Café"`` -> ``"cafe"``), every other run of characters
    becomes one ``_``; the result never is empty, never holds a path separator or ``..``,
    never starts with ``-``, ``_`` or ``.``, is at most ``max_chars`` long (cut at a word
    boundary when possible) and is never a reserved device name.
    """
    folded = unicodedata.normalize("NFKD", str(text))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_-")
    if len(slug) > max_chars:
        cut = slug[:max_chars]
        if "_" in cut[max_chars // 2 :]:
            cut = cut[: cut.rindex("_")]
        slug = cut.strip("_-")
    if not slug:
        slug = SLUG_FALLBACK
    if slug in _RESERVED:
        slug = f"{slug}_"
    return slug


def unique_slugs(labels: list[str]) -> dict[str, str]:
    """A slug for each label, different for different labels and independent of their order:
    labels whose slugs collide each get ``<slug>-<6 hex digits of the label's SHA-256>``."""
    import hashlib
    from collections import Counter

    plain = {lab: slugify(lab) for lab in dict.fromkeys(labels)}
    taken = Counter(plain.values())
    return {
        lab: s if taken[s] == 1 else f"{s}-{hashlib.sha256(lab.encode('utf-8', 'surrogatepass')).hexdigest()[:6]}"
        for lab, s in plain.items()
    }


def timestamp(now: _dt.datetime | None = None) -> str:
    """Local time as ``YYYYmmdd_HHMMSS`` (the prefix of an output folder)."""
    return (now or _dt.datetime.now()).strftime("%Y%m%d_%H%M%S")


@dataclass(frozen=True)
class OutputLayout:
    """The paths one ``apply`` run writes. ``folder`` is None when ``-o FILE`` was given."""

    audio: Path
    preset_json: Path | None
    metadata: Path | None
    plot: Path | None
    folder: Path | None

    def all_paths(self) -> list[Path]:
        return [p for p in (self.audio, self.preset_json, self.metadata, self.plot) if p is not None]


def plan_layout(
    in_path: Path,
    slug: str,
    *,
    output_path: Path | None = None,
    output_root: Path = Path("output"),
    plot: bool = False,
    now: _dt.datetime | None = None,
) -> OutputLayout:
    """Decide the output paths of one run.

    With ``output_path`` only that audio file is written (plus ``<stem>.png`` beside it with
    ``plot``). Otherwise a new folder ``output_root/<timestamp>_<slug>/`` holds
    ``<slug>.<input suffix>``, ``<slug>_preset.json``, ``metadata.txt`` and with ``plot``
    ``<slug>.png``. A folder name already taken (two runs in one second) gets ``_2``, ``_3`` …
    """
    if output_path is not None:
        output_path = Path(output_path)
        png = output_path.with_suffix(".png") if plot else None
        return OutputLayout(audio=output_path, preset_json=None, metadata=None, plot=png, folder=None)
    suffix = in_path.suffix.lower() or ".wav"
    base = output_root / f"{timestamp(now)}_{slug}"
    folder = base
    n = 2
    while folder.exists():
        folder = base.with_name(f"{base.name}_{n}")
        n += 1
    return OutputLayout(
        audio=folder / f"{slug}{suffix}",
        preset_json=folder / f"{slug}_preset.json",
        metadata=folder / "metadata.txt",
        plot=folder / f"{slug}.png" if plot else None,
        folder=folder,
    )


def make_folder(folder: Path) -> None:
    """Create an output folder (and parents); OutputError when that is impossible."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {folder}: {exc.strerror or exc}") from None


def preset_document(
    preset: Preset,
    *,
    prompt: str | None,
    source: str,
    model: Mapping[str, Any] | None = None,
    strength: float = 1.0,
    extra: Mapping[str, Any] | None = None,
    now: _dt.datetime | None = None,
) -> dict[str, Any]:
    """The content of ``<slug>_preset.json``: metadata plus the full preset under ``"preset"``.

    ``Preset.from_json`` reads this file directly (it unwraps ``{"preset": ...}``).
    """
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "created": (now or _dt.datetime.now(_dt.timezone.utc)).isoformat(timespec="seconds"),
        "prompt": prompt,
        "source": source,
        "strength": strength,
        "model": dict(model) if model else None,
    }
    if extra:
        doc.update(extra)
    doc["preset"] = preset.to_dict()
    return doc


def write_text_atomic(path: Path, text: str, *, overwrite: bool = False) -> None:
    """Write a text file through a temporary file and a rename (:func:`audiomanip.destination.write_atomic`:
    regular files only); OutputError on failure."""
    from audiomanip.destination import write_atomic

    # backslashreplace: a file name that is not valid UTF-8 (lone surrogates) is written as
    # \udcXX, which is also how JSON escapes it
    data = (text if text.endswith("\n") else text + "\n").encode("utf-8", errors="backslashreplace")
    write_atomic(path, data, overwrite=overwrite)


def preset_text(preset: Preset, fmt: str, edits: list[dict[str, str]] | None = None) -> str:
    """``preset`` as ``fmt`` ``"yaml"`` or ``"json"``, the text ``--preset-file`` reads; with a
    chain of ``edits`` the preset goes under ``"preset"`` with its chain beside it."""
    if not edits:
        return preset.to_yaml() if fmt == "yaml" else preset.to_json()
    import yaml

    doc = {"edits": edits, "preset": preset.to_dict()}
    return yaml.safe_dump(doc, sort_keys=False) if fmt == "yaml" else json.dumps(doc, indent=2)


def write_preset_document(path: Path, doc: Mapping[str, Any], *, overwrite: bool = False) -> None:
    write_text_atomic(path, json.dumps(doc, indent=2, ensure_ascii=False), overwrite=overwrite)


def metadata_text(rows: Mapping[str, Any]) -> str:
    """``metadata.txt``: one ``key: value`` line per entry, keys aligned. Values (file names,
    prompts) go through :func:`audiomanip.safe_text.printable`: a newline or an escape sequence
    in a file name is written as a visible escape and can never forge a line."""
    from audiomanip.safe_text import printable

    width = max((len(k) for k in rows), default=0)
    return "\n".join(f"{printable(k) + ':':<{width + 1}} {printable(v)}" for k, v in rows.items()) + "\n"
