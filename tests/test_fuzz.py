"""Fuzzing (issue 6): random and mutated audio files and preset files.

Seeded, so every failure reproduces. 200 random byte strings and a few hundred mutations of real
WAV/FLAC/OGG/MP3 files (bit flips, truncations, header edits) go through ``audio_io.read`` and
the renderer; 200+ mutations of real JSON/YAML presets (bytes and structure) through
``Preset.load`` and ``preset_source.load_file``; a sample of each through `audiomanip apply`.
Every one must end in the library's own error (AudiomanipError / PresetError) or in a correct
result (finite audio, a preset within the schema) — never another exception, never a partial
output file. Failures are collected and reported together with the seed and the case.
"""

from __future__ import annotations

import io
import json
import math
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml
from audiomanip.commands import _common
from audiomanip.commands.app import app
from cli_helpers import runner

from audiomanip import audio_io
from audiomanip.training.sources import sine, white_noise
from audiomanip.errors import AudiomanipError
from audiomanip.params import SCHEMA, Preset, PresetError

SEED = 20261125
SR = 16000


# ================================================================== inputs
def _real_audio_files() -> dict[str, bytes]:
    """Small real files of every format (0.1–0.25 s), as bytes."""
    mono = sine(440.0, 0.2, SR, amplitude=0.4)
    stereo = np.concatenate([mono, white_noise(0.2, SR, seed=1, channels=1) * 0.1]).astype(np.float32)
    six = np.concatenate([sine(200.0 * (c + 1), 0.1, 48000, amplitude=0.2) for c in range(6)]).astype(
        np.float32
    )
    files = {}
    for name, audio, rate, fmt, subtype in [
        ("pcm16.wav", mono, SR, "WAV", "PCM_16"),
        ("pcm24_stereo.wav", stereo, SR, "WAV", "PCM_24"),
        ("float.wav", stereo, SR, "WAV", "FLOAT"),
        ("u8.wav", mono, 8000, "WAV", "PCM_U8"),
        ("six.wav", six, 48000, "WAV", "PCM_16"),
        ("stereo.flac", stereo, SR, "FLAC", "PCM_16"),
        ("mono.ogg", mono, SR, "OGG", "VORBIS"),
        ("stereo.mp3", stereo, SR, "MP3", "MPEG_LAYER_III"),
        ("mono.aiff", mono, SR, "AIFF", "PCM_16"),
    ]:
        buf = io.BytesIO()
        sf.write(buf, audio.T, rate, format=fmt, subtype=subtype)
        files[name] = buf.getvalue()
    return files


MAGICS = [
    b"RIFF\x00\x00\x00\x00WAVEfmt ",
    b"RIFF\xff\xff\xff\xffWAVE",
    b"fLaC",
    b"OggS\x00\x02",
    b"ID3\x03\x00",
    b"\xff\xfb\x90\x64",
    b"FORM\x00\x00\x00\x00AIFF",
    b"RF64\xff\xff\xff\xffWAVEds64",
    b".snd",
    b"caff",
]


def random_blobs(rng: np.random.Generator, n: int, real: dict[str, bytes]) -> Iterator[tuple[str, bytes]]:
    """``n`` random byte strings: plain noise, a real format's magic plus noise, or a real file's
    header plus noise; lengths from 0 to 8 KiB."""
    reals = list(real.items())
    for i in range(n):
        size = int(rng.integers(0, 8192)) if i % 4 else int(rng.integers(0, 64))
        body = rng.bytes(size)
        kind = i % 3
        if kind == 1:
            body = MAGICS[i % len(MAGICS)] + body
        elif kind == 2:
            name, data = reals[i % len(reals)]
            body = data[: int(rng.integers(4, min(len(data), 512)))] + body
        ext = [".wav", ".flac", ".ogg", ".mp3", ".aiff", ".bin"][i % 6]
        yield f"random{i:03d}{ext}", body


def _fmt_offset(data: bytes) -> int | None:
    pos = data.find(b"fmt ")
    return pos + 8 if pos >= 0 and pos + 24 <= len(data) else None


def mutate_audio(rng: np.random.Generator, data: bytes) -> tuple[str, bytes]:
    """One mutation of a real file: (description, bytes)."""
    b = bytearray(data)
    kind = int(rng.integers(8))
    if kind == 0:  # bit flips anywhere
        for pos in rng.integers(0, len(b), size=int(rng.integers(1, 33))):
            b[pos] ^= 1 << int(rng.integers(8))
        return "bitflips", bytes(b)
    if kind == 1:  # truncation
        return "truncate", bytes(b[: int(rng.integers(0, len(b)))])
    if kind == 2:  # random bytes over the header
        for pos in rng.integers(0, min(len(b), 128), size=int(rng.integers(1, 9))):
            b[pos] = int(rng.integers(256))
        return "header-bytes", bytes(b)
    if kind == 3:  # WAV fmt fields set to extreme values (other formats: a header byte run zeroed)
        off = _fmt_offset(data)
        if off is None:
            start = int(rng.integers(0, min(len(b), 64)))
            b[start : start + 8] = bytes(8)
            return "header-zeroed", bytes(b)
        field, fmt = [(0, "<H"), (2, "<H"), (4, "<I"), (8, "<I"), (12, "<H"), (14, "<H")][
            int(rng.integers(6))
        ]
        value = int(
            rng.choice(
                [0, 1, 3, 7, 255, 65535, 0x7FFFFFFF, 0xFFFFFFFF] if fmt == "<I" else [0, 1, 3, 7, 255, 65535]
            )
        )
        struct.pack_into(fmt, b, off + field, min(value, 0xFFFF if fmt == "<H" else 0xFFFFFFFF))
        return f"fmt+{field}={value}", bytes(b)
    if kind == 4:  # a chunk size (RIFF, data or any 4-byte word after a tag) set to a huge value
        tag = [b"RIFF", b"data", b"fact", b"PEAK"][int(rng.integers(4))]
        pos = data.find(tag)
        if pos < 0 or pos + 8 > len(b):
            pos = int(rng.integers(0, max(1, len(b) - 8)))
        struct.pack_into("<I", b, pos + 4, int(rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFF0, 0xFFFFFFFF])))
        return f"size-of-{tag!r}", bytes(b)
    if kind == 5:  # a range zero-filled
        start = int(rng.integers(0, len(b)))
        end = min(len(b), start + int(rng.integers(1, 2048)))
        b[start:end] = bytes(end - start)
        return "zero-range", bytes(b)
    if kind == 6:  # random bytes inserted
        pos = int(rng.integers(0, len(b)))
        return "insert", bytes(b[:pos]) + rng.bytes(int(rng.integers(1, 512))) + bytes(b[pos:])
    # a range duplicated (a chunk repeated)
    start = int(rng.integers(0, len(b)))
    end = min(len(b), start + int(rng.integers(1, 1024)))
    return "duplicate", bytes(b[:end]) + bytes(b[start:end]) + bytes(b[end:])


# ================================================================== checking
class Failures:
    """Collects unexpected outcomes so that one test run reports all of them."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def run(self, label: str, fn: Callable[[], object], expected: tuple[type[BaseException], ...]):
        try:
            return fn()
        except expected:
            return None
        except Exception as exc:  # noqa: BLE001 - exactly what the fuzzer looks for
            self.items.append(f"{label}: {type(exc).__name__}: {str(exc)[:200]}")
            return None

    def check(self) -> None:
        assert not self.items, f"{len(self.items)} unexpected outcome(s) (seed {SEED}):\n" + "\n".join(
            self.items[:40]
        )


def _read_ok(path: Path) -> tuple[np.ndarray, int]:
    audio, sr = audio_io.read(path)
    assert isinstance(audio, np.ndarray) and audio.dtype == np.float32 and audio.ndim == 2, audio.shape
    assert audio.shape[0] >= 1 and audio.shape[1] >= 1 and sr > 0
    assert np.isfinite(audio).all()
    return audio, sr


def _render_ok(preset: Preset, path: Path, out: Path) -> None:
    from audiomanip.processing import process_file

    try:
        process_file(preset, path, out, measure_loudness=False, overwrite=True)
    finally:
        leftovers = [p for p in out.parent.iterdir() if p.name.startswith(".")]
        assert not leftovers, f"temporary files left: {leftovers}"
    y, _ = sf.read(str(out), dtype="float32", always_2d=True)
    assert y.size and np.isfinite(y).all() and np.abs(y).max() <= 1.0


def _gain_preset() -> Preset:
    p = Preset.default()
    p.set("output", "gain_db", -3.0)
    return p


def audio_cases(tmp: Path) -> list[tuple[str, Path]]:
    rng = np.random.default_rng(SEED)
    real = _real_audio_files()
    cases: list[tuple[str, Path]] = []
    folder = tmp / "audio"
    folder.mkdir()
    for name, data in random_blobs(rng, 200, real):
        (folder / name).write_bytes(data)
        cases.append((name, folder / name))
    for name, data in real.items():
        for j in range(24):
            how, mutated = mutate_audio(rng, data)
            path = folder / f"{Path(name).stem}_{j:02d}_{how.replace('/', '_')[:24]}{Path(name).suffix}"
            path.write_bytes(mutated)
            cases.append((path.name, path))
    return cases


def test_random_and_mutated_audio_never_crash_the_reader_or_renderer(tmp_path):
    cases = audio_cases(tmp_path)
    assert len(cases) >= 400
    failures = Failures()
    out_dir = tmp_path / "rendered"
    out_dir.mkdir()
    preset = _gain_preset()
    readable = 0
    for i, (name, path) in enumerate(cases):
        result = failures.run(f"read {name}", lambda: _read_ok(path), (AudiomanipError,))
        readable += result is not None
        if i % 3 == 0 or result is not None:  # the renderer streams: it meets problems differently
            out = out_dir / f"out{i:04d}.wav"
            failures.run(f"render {name}", lambda: _render_ok(preset, path, out), (AudiomanipError,))
    failures.check()
    assert readable > 50  # many mutations (bit flips in samples) are still valid audio


# ================================================================== presets
def _rich_preset(rng: np.random.Generator) -> Preset:
    p = Preset.default()
    for e in SCHEMA:
        p.enabled[e.name] = bool(rng.integers(2))
        for fname, param, _ in e.flat_params():
            if param.is_choice:
                p.values[e.name][fname] = param.choices[int(rng.integers(len(param.choices)))]
            else:
                p.values[e.name][fname] = round(float(param.denormalize(float(rng.random()))), 4)
    p.name = "fuzz"
    return p


JUNK_VALUES = [
    None,
    True,
    False,
    "",
    "x" * 300,
    "20 dB",
    "1e3",
    -1e308,
    1e308,
    float("nan"),
    float("inf"),
    [],
    {},
    [1, 2],
    {"a": 1},
    10**30,
    -(10**30),
    0,
    -0.0,
    12,
    0.5,
    "peak",
    "notch",
    "\x00\x1b[31m",
    "🎸",
]


def _leaves(doc, path=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _leaves(v, path + (k,))
    yield path


def _set(doc, path, value):
    for k in path[:-1]:
        doc = doc[k]
    doc[path[-1]] = value


def _delete(doc, path):
    for k in path[:-1]:
        doc = doc[k]
    del doc[path[-1]]


def mutate_structure(rng: np.random.Generator, doc: dict) -> tuple[str, dict]:
    """A structural change of a preset dict: a leaf replaced by junk, a key dropped or renamed,
    a section replaced, the schema version changed."""
    doc = json.loads(json.dumps(doc))
    paths = [p for p in _leaves(doc) if p]
    path = paths[int(rng.integers(len(paths)))]
    kind = int(rng.integers(5))
    if kind == 0:
        value = JUNK_VALUES[int(rng.integers(len(JUNK_VALUES)))]
        _set(doc, path, value)
        return f"{'.'.join(map(str, path))}={value!r:.20}", doc
    if kind == 1:
        _delete(doc, path)
        return f"del {'.'.join(map(str, path))}", doc
    if kind == 2:
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        parent[f"{path[-1]}_x"] = parent.pop(path[-1])
        return f"rename {'.'.join(map(str, path))}", doc
    if kind == 3:
        doc["schema_version"] = JUNK_VALUES[int(rng.integers(len(JUNK_VALUES)))]
        return "schema_version", doc
    value = JUNK_VALUES[int(rng.integers(len(JUNK_VALUES)))]
    doc[path[0]] = value
    return f"section {path[0]}={value!r:.20}", doc


YAML_SNIPPETS = [
    "!!python/object/apply:os.system ['echo pwned']",
    "!!python/name:os.system",
    "!!binary aGVsbG8=",
    "!custom {a: 1}",
    "&anchor 3",
    "*undefined_alias",
    "{<<: {gain_db: 1}}",
    "---\nmore: 1",
    "\t- tab",
    "[1, 2",
    "'unterminated",
    "? [complex, key]\n: 1",
    "!!float 'nan'",
    "!!int '0x10'",
    "2001-12-14t21:59:43.10-05:00",
    "~",
    "0o17",
    ".inf",
    "-.inf",
    "0b101",
    "1_000",
    "!!set {a, b}",
    "!!omap [a: 1]",
]


def mutate_text(rng: np.random.Generator, text: str, is_yaml: bool) -> tuple[str, bytes]:
    """A textual change: bytes flipped, cut, inserted; for YAML, a tag/anchor/odd scalar spliced in."""
    b = bytearray(text.encode("utf-8"))
    kind = int(rng.integers(5 if is_yaml else 4))
    if kind == 0:
        for pos in rng.integers(0, len(b), size=int(rng.integers(1, 9))):
            b[pos] ^= 1 << int(rng.integers(8))
        return "bitflips", bytes(b)
    if kind == 1:
        return "truncate", bytes(b[: int(rng.integers(0, len(b)))])
    if kind == 2:
        pos = int(rng.integers(0, len(b)))
        return "insert", bytes(b[:pos]) + rng.bytes(int(rng.integers(1, 32))) + bytes(b[pos:])
    if kind == 3:
        start = int(rng.integers(0, len(b)))
        return "delete", bytes(b[:start]) + bytes(b[start + int(rng.integers(1, 64)) :])
    lines = text.splitlines()
    i = int(rng.integers(len(lines)))
    snippet = YAML_SNIPPETS[int(rng.integers(len(YAML_SNIPPETS)))]
    if ":" in lines[i]:
        key = lines[i].split(":", 1)[0]
        lines[i] = f"{key}: {snippet}"
    else:
        lines.insert(i, snippet)
    return f"yaml {snippet[:20]!r}", ("\n".join(lines) + "\n").encode("utf-8")


def _preset_ok(preset: Preset) -> None:
    """A loaded preset lies within the schema and round-trips."""
    for e in SCHEMA:
        assert isinstance(preset.enabled[e.name], bool)
        for fname, p, _ in e.flat_params():
            v = preset.values[e.name][fname]
            if p.is_choice:
                assert v in p.choices, (e.name, fname, v)
            else:
                assert isinstance(v, float) and math.isfinite(v) and p.low <= v <= p.high, (e.name, fname, v)
    assert Preset.from_dict(preset.to_dict(), strict=True) == preset


def preset_cases(tmp: Path) -> list[tuple[str, Path]]:
    rng = np.random.default_rng(SEED + 1)
    folder = tmp / "presets"
    folder.mkdir()
    cases: list[tuple[str, Path]] = []
    for i in range(120):
        preset = _rich_preset(rng)
        doc = preset.to_dict()
        if i % 4 == 0:  # the wrapper `apply` writes
            doc = {"schema_version": 1, "created": "2026-11-25T00:00:00+00:00", "prompt": "x", "preset": doc}
        as_yaml = i % 2 == 0
        if i % 3 == 0:
            how, changed = mutate_structure(rng, doc)
            text = (
                yaml.safe_dump(changed, sort_keys=False, allow_unicode=True)
                if as_yaml
                else json.dumps(changed, ensure_ascii=False)
            )
            data = text.encode("utf-8")
        else:
            text = yaml.safe_dump(doc, sort_keys=False) if as_yaml else json.dumps(doc, indent=2)
            how, data = mutate_text(rng, text, as_yaml)
        path = (
            folder
            / f"p{i:03d}_{how.replace('/', '_').replace(chr(0), '')[:16]}{'.yaml' if as_yaml else '.json'}"
        )
        path.write_bytes(data)
        cases.append((path.name, path))
    for i in range(80):  # random bytes named like presets
        path = folder / f"random{i:02d}{['.json', '.yaml', '.yml'][i % 3]}"
        path.write_bytes(
            rng.bytes(int(rng.integers(0, 2048)))
            if i % 2
            else bytes(rng.integers(32, 127, size=int(rng.integers(0, 512)), dtype=np.uint8))
        )
        cases.append((path.name, path))
    return cases


def test_random_and_mutated_presets_never_crash_the_loader(tmp_path):
    from audiomanip.errors import PresetFileError
    from audiomanip.preset_source import load_file

    cases = preset_cases(tmp_path)
    assert len(cases) == 200
    failures = Failures()
    loaded = 0
    for name, path in cases:
        for clamp in (False, True):
            preset = failures.run(
                f"Preset.load {name} clamp={clamp}", lambda: Preset.load(path, clamp=clamp), (PresetError,)
            )
            if preset is not None:
                loaded += 1
                failures.run(f"check {name}", lambda: _preset_ok(preset), ())
            resolved = failures.run(
                f"load_file {name} clamp={clamp}", lambda: load_file(path, clamp=clamp), (PresetFileError,)
            )
            if resolved is not None:
                assert "\n" not in " ".join(resolved.notes)
    failures.check()
    assert loaded > 20  # plenty of mutations leave a valid (or clampable) preset


# ================================================================== a sample through the CLI
ALLOWED_EXIT = {0, 3, 4, 5, 6}


def test_a_sample_through_apply_ends_in_one_line_or_a_result(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    audio = audio_cases(tmp_path)
    presets = preset_cases(tmp_path)
    rng = np.random.default_rng(SEED + 2)
    sf.write(tmp_path / "tone.wav", sine(330.0, 0.2, SR, amplitude=0.3).T, SR)
    _gain_preset().save(tmp_path / "gain.yaml")
    failures: list[str] = []
    picks = [("audio", audio[i]) for i in rng.choice(len(audio), 20, replace=False)] + [
        ("preset", presets[i]) for i in rng.choice(len(presets), 20, replace=False)
    ]
    for n, (what, (name, path)) in enumerate(picks):
        args = (
            ["apply", path, "--preset-file", "gain.yaml"]
            if what == "audio"
            else ["apply", "tone.wav", "--preset-file", path, "--clamp"]
        )
        res = runner.invoke(app, [str(a) for a in args] + ["-o", f"out{n}.wav"])
        lines = res.stderr.strip().splitlines()
        if res.exit_code not in ALLOWED_EXIT or "Traceback" in res.output:
            failures.append(f"{what} {name}: exit {res.exit_code}: {res.output[-300:]}")
        elif res.exit_code != 0 and (len(lines) != 1 or not lines[0].startswith("error:")):
            failures.append(f"{what} {name}: exit {res.exit_code} but stderr is {res.stderr!r}")
        elif res.exit_code == 0:
            y, _ = sf.read(tmp_path / f"out{n}.wav", dtype="float32")
            if not np.isfinite(y).all():
                failures.append(f"{what} {name}: non-finite output")
        elif (tmp_path / f"out{n}.wav").exists():
            failures.append(f"{what} {name}: failed but left out{n}.wav")
    assert _common.INTERNAL_ERROR_EXIT_CODE not in ALLOWED_EXIT
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"
    assert not failures, "\n".join(failures)
