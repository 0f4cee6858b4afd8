"""`audiomanip batch` under load (issue 6): 300 short files, 5 % of them corrupt, two workers.

Every good file must be processed exactly once (and correctly: its input 6 dB down, same rate,
channels and length), report.json must list exactly the corrupt files as failed, no input may
change, no temporary file may remain, and a second run must skip every finished file and touch
none of them. Seeded; the corruptions are of the kinds users meet (truncated copies, damaged
headers, text or empty files named .wav, random bytes).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audiomanip.commands.app import app
from cli_helpers import runner

from audiomanip.params import Preset
from audiomanip.batch.manifest import is_bookkeeping

SEED = 6
N_FILES = 300
CORRUPT_FRACTION = 0.05
SR = 8000
GAIN_DB = -6.0


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def corrupt(rng: np.random.Generator, data: bytes) -> bytes:
    kind = int(rng.integers(6))
    if kind == 0:  # a truncated copy
        return data[: int(rng.integers(0, len(data) - 1))]
    if kind == 1:  # the RIFF header overwritten
        return rng.bytes(12) + data[12:]
    if kind == 2:  # a text file named .wav
        return b"take notes: the good one is take 7\n" * 10
    if kind == 3:  # empty
        return b""
    if kind == 4:  # random bytes
        return rng.bytes(len(data))
    # a data chunk that promises more than the file holds
    b = bytearray(data)
    pos = data.index(b"data")
    b[pos + 4 : pos + 8] = (len(data) * 4).to_bytes(4, "little")
    return bytes(b)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """300 files of 0.1 s at 8 kHz in 3 folders (mono and stereo sines of different pitch);
    15 chosen at random (seeded) are corrupt."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(SEED)
    root = tmp_path / "in"
    t = np.arange(int(0.1 * SR)) / SR
    paths = []
    for i in range(N_FILES):
        folder = root / f"session{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        channels = 1 + i % 2
        x = np.stack([0.5 * np.sin(2 * np.pi * (100 + 7 * i + 50 * c) * t) for c in range(channels)])
        path = folder / f"clip{i:03d}.wav"
        sf.write(path, x.T.astype(np.float32), SR, subtype="PCM_16")
        paths.append(path)
    n_bad = int(round(CORRUPT_FRACTION * N_FILES))
    bad = {paths[i] for i in rng.choice(N_FILES, n_bad, replace=False)}
    for path in sorted(bad):
        path.write_bytes(corrupt(rng, path.read_bytes()))
    p = Preset.default()
    p.set("output", "gain_db", GAIN_DB)
    p.save(tmp_path / "quiet.yaml")
    return root, set(paths) - bad, bad


def test_300_files_with_5_percent_corrupt_and_two_workers(tree, tmp_path):
    root, good, bad = tree
    assert len(good) == 285 and len(bad) == 15
    hashes = {p: digest(p) for p in root.rglob("*") if p.is_file()}
    args = [
        "batch",
        str(root),
        "--preset-file",
        "quiet.yaml",
        "--recursive",
        "--workers",
        "2",
        "--output-dir",
        "out",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 1, res.output  # 1: some files failed, the rest are done
    assert "Traceback" not in res.output
    out = tmp_path / "out"
    report = json.loads((out / "report.json").read_text())

    assert report["workers"] == 2
    # every job reported exactly once; exactly the corrupt files failed
    listed = [Path(f["in_path"]).resolve() for f in report["files"]]
    assert len(listed) == len(set(listed)) == N_FILES
    assert report["counts"] == {"done": 285, "skipped": 0, "failed": 15}
    failed = {Path(f["in_path"]).resolve() for f in report["files"] if f["status"] == "failed"}
    assert failed == {p.resolve() for p in bad}
    for f in report["files"]:
        if f["status"] == "failed":
            assert f["error"] and "\n" not in f["error"] and Path(f["in_path"]).name in f["error"], f
            assert not f["error"].startswith(("ValueError", "RuntimeError", "TypeError")), f["error"]

    # every good file has exactly one output, and it is right
    written = sorted(p.relative_to(out) for p in out.rglob("*.wav"))
    assert written == sorted(p.relative_to(root) for p in good)
    scale = 10 ** (GAIN_DB / 20)
    for p in good:
        x, _ = sf.read(p, dtype="float64", always_2d=True)
        y, sr = sf.read(out / p.relative_to(root), dtype="float64", always_2d=True)
        assert sr == SR and y.shape == x.shape
        assert np.max(np.abs(y - x * scale)) <= 1.5 / 2**15

    # inputs untouched, no temporary or partial file anywhere
    assert {p: digest(p) for p in root.rglob("*") if p.is_file()} == hashes
    assert not [p for p in tmp_path.rglob(".*") if not is_bookkeeping(p.name)]

    # a second run processes nothing twice: all done files skipped and left alone
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    res = runner.invoke(app, args)
    assert res.exit_code == 1, res.output
    report = json.loads((out / "report.json").read_text())
    assert report["counts"] == {"done": 0, "skipped": 285, "failed": 15}
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == mtimes
    assert {p: digest(p) for p in root.rglob("*") if p.is_file()} == hashes
