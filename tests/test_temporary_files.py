"""Temporary files are unique per job and their writer's own (issue 14, finding 1).

`batch --match-loudness` used to render every job into `.<stem>.render.tmp.wav`: song.wav,
song.flac and song.aiff shared it, so one output could hold another input's audio; and
`apply --match-loudness -o take.wav` deleted a user's own `.take.render.tmp.wav`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tone_checks import peak_hz, write_tone

from audiomanip import tempfiles
from audiomanip.batch.manifest import is_bookkeeping

SR = 16000


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "audiomanip", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_batch_match_loudness_keeps_each_input_with_its_own_output(tmp_path):
    """Three inputs with one stem and different formats, two workers: every output holds its
    own input's tone, and a user's file named like the old shared temporary survives."""
    same = tmp_path / "same"
    same.mkdir()
    expected = {"song.wav": 220.0, "song.flac": 880.0, "song.aiff": 1760.0}
    for name, f0 in expected.items():
        write_tone(same / name, f0, 1.0, SR)
    out = tmp_path / "out"
    out.mkdir()
    mine = out / ".song.render.tmp.wav"
    mine.write_bytes(b"the user's own file")
    res = cli(
        "batch",
        "same",
        "--preset",
        "telephone",
        "--match-loudness",
        "--output-dir",
        "out",
        "--workers",
        "2",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["counts"] == {"done": 3, "skipped": 0, "failed": 0}
    for name, f0 in expected.items():
        assert abs(peak_hz(out / name) - f0) <= 2.0, (name, peak_hz(out / name))
    assert mine.read_bytes() == b"the user's own file"
    kept = sorted(p.name for p in out.iterdir() if not is_bookkeeping(p.name))  # the batch's records stay
    assert kept == sorted([*expected, "report.json", mine.name])


def test_apply_match_loudness_leaves_the_users_look_alike_file_alone(tmp_path):
    write_tone(tmp_path / "in.wav", 440.0, 1.0, SR)
    users = tmp_path / ".take.render.tmp.wav"
    write_tone(users, 1000.0, 0.25, SR)
    before = digest(users)
    res = cli("apply", "in.wav", "--preset", "telephone", "--match-loudness", "-o", "take.wav", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert users.is_file() and digest(users) == before
    assert abs(peak_hz(tmp_path / "take.wav") - 440.0) <= 2.0
    hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert hidden == [users.name]  # no temporary file of ours left


def test_temporary_names_are_fresh_exclusive_and_swept_by_owner(tmp_path):
    target = tmp_path / "x.wav"
    a, b = tempfiles.create(target), tempfiles.create(target, kind="scratch.wav")
    assert a != b and a.parent == tmp_path and a.name.startswith(".x.wav.")
    assert tempfiles.owner_pid(a.name, "x.wav") == os.getpid()
    assert tempfiles.owner_pid(b.name, "x.wav") == os.getpid()
    nested = tempfiles.create(b)  # an atomic write of the scratch file
    assert tempfiles.owner_pid(nested.name, "x.wav") == os.getpid()
    users = [
        tmp_path / ".x.wav.tmp",
        tmp_path / ".x.wav.123.abcdefabcdef.notes",
        tmp_path / "x.wav.1.abcdefabcdef.partial",
    ]
    for p in users:
        p.write_bytes(b"mine")
    assert tempfiles.remove_partial_files(target, {os.getpid() + 1}) == 0  # another process's
    assert tempfiles.remove_partial_files(target, {os.getpid()}) == 3
    assert all(p.read_bytes() == b"mine" for p in users)
    for p in (a, b, nested):
        tempfiles.discard(p)
    with pytest.raises(KeyboardInterrupt), tempfiles.scratch_file(target) as scratch:
        assert scratch.is_file()
        raise KeyboardInterrupt
    assert not scratch.exists()
    assert tempfiles.remove_temporary_files() == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_never_removes_its_parents_temporary_files(tmp_path):
    """Batch workers may be forked from the batch process: a worker stopped mid-job removes
    its own temporary files, never one its parent was writing when it forked."""
    tmp = tempfiles.create(tmp_path / "parent.wav")
    try:
        pid = os.fork()
        if pid == 0:  # the child: what a stopped worker does
            os._exit(tempfiles.remove_temporary_files())
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0  # it removed nothing
        assert tmp.exists()
    finally:
        tempfiles.discard(tmp)
    assert not tmp.exists()
