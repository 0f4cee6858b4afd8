"""The corpus YAML files under ``presets/`` (installed as the package ``audiomanip.presets``):
where they are, reading them (cached, libyaml's ``CSafeLoader`` when available, safe loading
only), reading one section or one entry of a file without parsing the rest, and the error that
names a file and entry.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from audiomanip.errors import PresetFileError


def presets_dir() -> Path:
    """The folder that holds the corpus YAML files (the ``audiomanip.presets`` package)."""
    return Path(str(resources.files("audiomanip.presets")))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PresetFileError(f"cannot read corpus file {path}: {exc.strerror or exc}") from None


def _parse(text: str, name: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise PresetFileError(f"{name} is not valid YAML: {exc}") from None


@functools.cache
def load_yaml(filename: str) -> Any:
    path = presets_dir() / filename
    return _parse(_read(path), path.name)


# ---------------------------------------------------------------------------- one part of a file
# A command that needs one named preset reads its entry and the few descriptors it composes, not
# all of named.yaml and descriptors.yaml (about 40 ms of a 0.5 s `apply --preset`). The parts are
# found by their lines: a top-level ``key:`` starts a section; inside it, each line at the
# section's first indent starts an entry (``name:`` of a mapping, ``- name: …`` of a list). Each
# part is parsed as YAML on its own; anything that does not read back as exactly the part asked
# for (an alias to another entry, a key spelt twice, an unusual layout) returns None, and the
# caller reads the whole file instead.
_TOP_KEY = re.compile(r"([A-Za-z_][\w-]*):(?:\s|$)")
_MAP_KEY = re.compile(r"([A-Za-z0-9_][\w .'-]*?):(?:\s|$)")
_LIST_NAME = re.compile(r"- name:\s*(.+?)\s*$")


def _content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _parts(path: Path) -> dict[str, tuple[str, dict[str, list[str]]]]:
    """``{section: (its text, {entry key as written: [entry texts]})}`` of the file at ``path``
    (cached while the file keeps its size and modification time)."""
    try:
        st = path.stat()
    except OSError:
        return _split(path, None, None)  # _read raises the one-line error
    return _split(path, st.st_mtime_ns, st.st_size)


@functools.cache
def _split(path: Path, mtime_ns: int | None, size: int | None) -> dict[str, tuple[str, dict[str, list[str]]]]:
    lines = _read(path).splitlines(keepends=True)
    starts = [(i, m.group(1)) for i, line in enumerate(lines) if (m := _TOP_KEY.match(line))]
    out: dict[str, tuple[str, dict[str, list[str]]]] = {}
    for n, (first, key) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        body = lines[first + 1:end]
        indents = [len(line) - len(line.lstrip(" ")) for line in body if _content(line)]
        entries: dict[str, list[str]] = {}
        if indents:
            indent = indents[0]
            entry_lines: list[str] = []
            entry_key = None
            for line in body + [""]:
                starts_entry = _content(line) and len(line) - len(line.lstrip(" ")) == indent
                if (starts_entry or line == "") and entry_key is not None:
                    entries.setdefault(entry_key, []).append("".join(entry_lines))
                    entry_key = None
                if starts_entry:
                    m = (_LIST_NAME if line[indent] == "-" else _MAP_KEY).match(line, indent)
                    entry_key = m.group(1).strip("'\"") if m else "\0"  # \0: a line no key matches
                    entry_lines = []
                if entry_key is not None:
                    entry_lines.append(line)
        out.setdefault(key, ("".join(lines[first:end]), entries))
        if out[key][0] != "".join(lines[first:end]):  # a section spelt twice
            out[key] = ("", {})
    return out


def load_yaml_section(filename: str, section: str) -> Any:
    """The value of the top-level ``section`` of a corpus file (None when it has none), parsed
    from its own lines when they read back as that section alone, else from the whole file."""
    path = presets_dir() / filename
    text = _parts(path).get(section, ("", {}))[0]
    if text:
        data = _parse(text, path.name)
        if isinstance(data, dict) and list(data) == [section]:
            return data[section]
    data = load_yaml(filename)
    return data.get(section) if isinstance(data, dict) else None


def load_yaml_entry(filename: str, section: str, key: Callable[[str], bool]) -> Any:
    """The one entry of the top-level ``section`` of a corpus file whose key (a mapping's key, or a
    list item's ``name``) satisfies ``key``: ``(key, value)`` for a mapping entry, the item for a
    list. None when that cannot be told without reading the whole file: no entry or several
    match, or the entry does not read back alone (then the caller reads the whole file)."""
    path = presets_dir() / filename
    found = [t for k, texts in _parts(path).get(section, ("", {}))[1].items() if k != "\0" and key(k)
             for t in texts]
    if len(found) != 1:
        return None
    try:
        data = _parse(found[0], path.name)
    except PresetFileError:
        return None
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict) and "name" in data[0]:
        return data[0] if key(str(data[0]["name"])) else None
    if isinstance(data, dict) and len(data) == 1:
        (k, value), = data.items()
        return (k, value) if key(str(k)) else None
    return None


def corpus_error(where: str, message: str) -> PresetFileError:
    return PresetFileError(f"presets/{where}: {message}")
