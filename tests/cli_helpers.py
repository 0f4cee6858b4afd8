"""Helpers shared by the CLI tests: invoking the Typer app in-process and checking user errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

from audiomanip.commands.app import app
from typer.testing import CliRunner

runner = CliRunner()


def invoke(*args):
    """Run ``audiomanip ARGS…`` in-process; arguments may be paths or numbers."""
    return runner.invoke(app, [str(a) for a in args])


def assert_user_error(res, code: int, *words: str) -> str:
    """Exit ``code``, exactly one stderr line (``error: …``) holding ``words``, no traceback."""
    assert res.exit_code == code, (res.exit_code, res.output)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert "Traceback" not in res.output
    return lines[0]


def digests(folder: Path) -> dict[Path, str]:
    """SHA-256 of every file below ``folder`` (to prove inputs were not modified)."""
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def run_process(*args, cwd: Path, text: bool = True):
    """Run ``audiomanip ARGS…`` as a real process (one torch thread) in ``cwd``; arguments may be
    paths, numbers or bytes (bytes reach argv as they are). Returns the CompletedProcess."""
    import os
    import subprocess
    import sys

    argv = [a if isinstance(a, bytes) else str(a) for a in args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "audiomanip", *argv], cwd=cwd, env=env,
                          capture_output=True, text=text, timeout=180)
