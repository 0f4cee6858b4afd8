"""User text never reaches a terminal or a line-oriented file raw (issue 14, finding 7).

The CLI runs as a real process on a real pseudo-terminal (os.openpty), so rich believes it
talks to a terminal; the bytes the terminal receives must hold no ESC/BEL/OSC/bidi control
that came from a prompt, a file name or a preset name, only their visible escapes. A newline
in a file name cannot forge a metadata.txt line, and the ffmpeg hint quotes the file name."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_helpers import invoke

SR = 16000
#: What an attacker puts in user text: an OSC window title ended by BEL, clear-screen, the
#: alternate screen, a C1 CSI, and a right-to-left override.
HOSTILE = "\x1b]0;PWNED\x07\x1b[2J\x1b[?1049h\x9b31m\u202eevil"
FORBIDDEN = [b"\x07", b"\x1b]", b"\x1b[2J", b"\x1b[?1049h", "\x9b".encode(), "\u202e".encode()]


def _run_on_pty(args: list[str], cwd: Path) -> bytes:
    """Run ``audiomanip ARGS`` with stdin/stdout/stderr on a new pty; everything it printed."""
    master, slave = os.openpty()
    env = dict(os.environ, OMP_NUM_THREADS="1", TERM="xterm-256color", COLUMNS="200")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "audiomanip", *args], cwd=cwd, env=env,
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return b"".join(chunks)


def _assert_clean(output: bytes) -> None:
    for seq in FORBIDDEN:
        assert seq not in output, (seq, output)


def test_printable_escapes_visibly():
    from audiomanip.safe_text import printable

    assert printable("a\x1b[31mb\x07\u202ec\nd\x7f\x85") == "a\\x1b[31mb\\x07\\u202ec\\nd\\x7f\\x85"
    assert printable("Café [bold] 音 🎸") == "Café [bold] 音 🎸"
    assert printable("bad\udcffname") == "bad\\udcffname"


@pytest.fixture
def work(tmp_path):
    t = np.arange(SR) / SR
    sf.write(tmp_path / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t), SR)
    return tmp_path


def test_prompt_and_file_names_on_a_pty(work, tiny_model):
    hostile_wav = work / f"take{HOSTILE}.wav"
    os.link(work / "tone.wav", hostile_wav)
    # the prompt header and notes
    out = _run_on_pty(["apply", "tone.wav", f"warm {HOSTILE} up 2 semitones", "--dry-run",
                       "--checkpoint-path", str(tiny_model)], work)
    assert b"\\x1b]0;PWNED\\x07" in out and b"\\u202eevil" in out, out
    _assert_clean(out)
    # an error naming a file
    out = _run_on_pty(["apply", f"missing{HOSTILE}.wav", "-p", "telephone"], work)
    assert b"error:" in out and b"missing\\x1b]0;PWNED" in out, out
    _assert_clean(out)
    # "file:" header of a preset file, and the written-to summary
    preset = work / f"p{HOSTILE}.yaml"
    preset.write_text("output: {gain_db: -3}\n")
    out = _run_on_pty(["apply", hostile_wav.name, "--preset-file", preset.name, "-o", f"out{HOSTILE}.wav"], work)
    assert b"file:" in out, out
    _assert_clean(out)
    # batch: the job line, notes and the failed-files table
    (work / "in").mkdir()
    (work / "in" / f"bad{HOSTILE}.wav").write_bytes(b"not audio")
    out = _run_on_pty(["batch", "in", "--prompt", f"dark {HOSTILE}", "--checkpoint-path", str(tiny_model),
                       "--workers", "1", "--output-dir", "bo"], work)
    assert b"bad\\x1b]0;PWNED" in out, out
    _assert_clean(out)


def test_newline_in_a_file_name_cannot_forge_a_metadata_line(work, monkeypatch):
    monkeypatch.chdir(work)
    forged = work / "a\nsource: forged\x1b[2J.wav"
    os.link(work / "tone.wav", forged)
    res = invoke("apply", forged.name, "-p", "telephone", "--output-dir", "runs")
    assert res.exit_code == 0, res.output
    (folder,) = (work / "runs").iterdir()
    lines = (folder / "metadata.txt").read_text().splitlines()
    keys = [line.split(":", 1)[0].strip() for line in lines]
    assert keys.count("source") == 1 and all(re.fullmatch(r"[a-z ]+", k) for k in keys), lines
    (inp,) = [line for line in lines if line.startswith("input:")]
    assert inp.endswith("a\\nsource: forged\\x1b[2J.wav")
    assert "\x1b" not in "\n".join(lines)


def test_ffmpeg_hint_is_shell_quoted(work, monkeypatch):
    monkeypatch.chdir(work)
    name = "chain $(touch pwned) `id`;.txt"
    res = invoke("export-preset", "-p", "cathedral", "-f", "ffmpeg", "-o", name)
    assert res.exit_code == 0, res.output
    (hint,) = [line for line in res.stderr.splitlines() if line.startswith("use:")]
    inner = re.search(r'"\$\(cat (.*)\)"', hint).group(1)
    assert shlex.split(inner) == [name]
    # pasting the hint into a shell runs nothing the file name holds
    subprocess.run(["sh", "-c", f"cat {inner} >/dev/null"], cwd=work, check=True)
    assert not (work / "pwned").exists()
