"""The command line under failure (issue 6): outputs that cannot be written, Ctrl-C, odd prompts,
devices, usage errors, and the exit-code table.

Every user-caused error must exit non-zero with exactly one line on stderr and no traceback, and
each error class has its own exit code (audiomanip/errors.py). Disk-full, permission and Ctrl-C
failures are simulated with mocks (root ignores folder permissions). Prompt tests run against
the shipped default model when it exists, and always against a tiny untrained checkpoint built
here (real text encoder, real inference).
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audiomanip.commands import _common, _output as cli_output
from cli_helpers import assert_user_error, digests, invoke

from audiomanip import errors
from audiomanip.checkpoint import DEFAULT_MODEL_DIR
from audiomanip.training.sources import sine
from audiomanip.batch.manifest import is_bookkeeping
from audiomanip.params import Preset

SR = 16000


def assert_interrupted(res) -> None:
    """Ctrl-C: exit 130 and one ``error: interrupted`` line last on stderr (a batch may have
    announced its jobs before), no traceback."""
    assert res.exit_code == _common.INTERRUPTED_EXIT_CODE, (res.exit_code, res.output)
    lines = res.stderr.strip().splitlines()
    assert lines[-1] == "error: interrupted" and sum(line.startswith("error:") for line in lines) == 1, (
        res.stderr
    )
    assert "Traceback" not in res.output


def hidden(folder: Path) -> list[Path]:
    """Temporary files (all start with a dot) left anywhere under ``folder`` (a batch's output
    records and report lock are kept on purpose)."""
    return [p for p in folder.rglob(".*") if not is_bookkeeping(p.name)]


def run_folders(work: Path) -> list[Path]:
    root = work / "output"
    return list(root.iterdir()) if root.exists() else []


@pytest.fixture
def work(tmp_path, monkeypatch):
    """cwd holding tone.wav (1 s, 16 kHz, stereo) and gain.yaml (-6 dB)."""
    monkeypatch.chdir(tmp_path)
    sf.write(tmp_path / "tone.wav", sine(440.0, 1.0, SR, amplitude=0.3, channels=2).T, SR, subtype="PCM_24")
    p = Preset.default()
    p.set("output", "gain_db", -6.0)
    p.save(tmp_path / "gain.yaml")
    return tmp_path


# ================================================================== outputs
def test_output_over_its_own_input_is_refused(work):
    before = digests(work)
    res = invoke("apply", "tone.wav", "--preset-file", "gain.yaml", "-o", "tone.wav", "--overwrite")
    assert_user_error(res, errors.OutputError.exit_code, "input")
    res = invoke("apply", "tone.wav", "--preset-file", "gain.yaml", "-o", "./sub/../tone.wav", "--overwrite")
    assert res.exit_code == errors.OutputError.exit_code
    assert digests(work) == before


def test_output_path_that_is_a_folder(work):
    (work / "taken.wav").mkdir()
    res = invoke("apply", "tone.wav", "--preset-file", "gain.yaml", "-o", "taken.wav", "--overwrite")
    assert_user_error(res, errors.OutputError.exit_code, "taken.wav")
    assert (work / "taken.wav").is_dir() and not list((work / "taken.wav").iterdir())


def test_unwritable_output_folder(work, monkeypatch):
    """A folder the user may not write to (mocked: root ignores chmod): one line, nothing written."""
    locked = (work / "locked").resolve()
    locked.mkdir()
    real_access = os.access

    def access(path, mode, *a, **kw):
        if Path(path).resolve() == locked and mode & os.W_OK:
            return False
        return real_access(path, mode, *a, **kw)

    monkeypatch.setattr(os, "access", access)
    before = digests(work)
    res = invoke("apply", "tone.wav", "--preset-file", "gain.yaml", "-o", locked / "out.wav")
    assert_user_error(res, errors.OutputError.exit_code, "permission denied")
    assert digests(work) == before and not list(locked.iterdir())


def test_permission_denied_while_creating_the_file(work, monkeypatch):
    """The folder looked writable but creating the file fails (EACCES from the OS)."""
    real_open = os.open

    def denied(path, flags, mode=0o777, **kw):
        if str(path).endswith(".partial"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", denied)
    res = invoke("apply", "tone.wav", "--preset-file", "gain.yaml")
    assert_user_error(res, errors.OutputError.exit_code, "permission denied")
    assert run_folders(work) == [] and hidden(work) == []


def test_output_root_that_cannot_be_created(work, monkeypatch):
    real_mkdir = Path.mkdir

    def mkdir(self, *a, **kw):
        if "forbidden" in str(self):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_mkdir(self, *a, **kw)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    res = invoke("apply", "tone.wav", "--preset-file", "gain.yaml", "--output-dir", "forbidden/runs")
    assert_user_error(res, errors.OutputError.exit_code, "forbidden")
    assert not (work / "forbidden").exists()


def _fail_audio_write(monkeypatch, exc: BaseException, after: int = 0):
    """soundfile writes fail with ``exc`` after ``after`` successful calls."""
    real = sf.SoundFile.write
    calls = {"n": 0}

    def write(self, data):
        calls["n"] += 1
        if calls["n"] > after:
            raise exc
        return real(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", write)
    return calls


def _fail_text_write(monkeypatch, exc: BaseException):
    """Writing the preset JSON / metadata (text files) fails with ``exc``."""
    from audiomanip import destination

    def write_all(tmp, data):
        raise exc

    monkeypatch.setattr(destination, "_write_all", write_all)


ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize(
    "where, layout",
    [("audio", "folder"), ("audio", "-o"), ("audio", "-o --overwrite"), ("preset-json", "folder")],
)
def test_disk_full_is_one_line_and_loses_nothing(work, monkeypatch, where, layout):
    (work / "existing.wav").write_bytes(b"an older take: keep me")
    before = digests(work)
    args = {"folder": [], "-o": ["-o", "new.wav"], "-o --overwrite": ["-o", "existing.wav", "--overwrite"]}[
        layout
    ]
    if where == "audio":
        _fail_audio_write(monkeypatch, ENOSPC)
    else:  # -o writes no preset JSON
        _fail_text_write(monkeypatch, ENOSPC)
    res = invoke("apply", "tone.wav", "--preset-file", "gain.yaml", *args)
    line = assert_user_error(res, errors.OutputError.exit_code)
    assert "no space left" in line.lower()
    assert digests(work) == before  # input and the older take untouched; nothing new
    assert run_folders(work) == [] and hidden(work) == []


@pytest.fixture
def tiny_disk(work):
    """A real 64 KiB file system (tmpfs) mounted under the work folder; skipped where mounting is
    not allowed (not root, no CAP_SYS_ADMIN)."""
    mnt = work / "tiny disk"
    mnt.mkdir()
    try:
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30)


def test_a_really_full_disk(work, tiny_disk):
    """No mock: a 64 KiB file system cannot hold 2 s of 48 kHz stereo (768 KB)."""
    sf.write(work / "big.wav", sine(440.0, 2.0, 48000, amplitude=0.3, channels=2).T, 48000, subtype="PCM_32")
    (tiny_disk / "older.wav").write_bytes(b"an older take: keep me")
    before = digests(work)
    for args in (
        ["-o", tiny_disk / "new.wav"],
        ["-o", tiny_disk / "older.wav", "--overwrite"],
        ["--output-dir", tiny_disk / "runs"],
    ):
        res = invoke("apply", "big.wav", "--preset-file", "gain.yaml", *args)
        line = assert_user_error(res, errors.OutputError.exit_code)
        assert "no space left" in line.lower(), line
        assert digests(work) == before  # input and the older take untouched
        assert sorted(p.name for p in tiny_disk.iterdir()) in (["older.wav"], ["older.wav", "runs"])
        assert hidden(tiny_disk) == []
        runs = tiny_disk / "runs"
        assert not runs.exists() or not list(runs.iterdir())  # no half-filled run folder


@pytest.mark.parametrize(
    "how, layout",
    [
        ("progress-callback", "folder"),
        ("progress-callback", "-o --overwrite"),
        ("audio-write", "folder"),
        ("audio-write", "-o --overwrite"),
        ("preset-json", "folder"),
    ],
)
def test_ctrl_c_during_apply_leaves_nothing_behind(work, monkeypatch, how, layout):
    # long enough for several blocks, so the interruption comes mid-file
    sf.write(work / "long.wav", sine(220.0, 12.0, SR, amplitude=0.3).T, SR)
    (work / "existing.wav").write_bytes(b"an older take: keep me")
    before = digests(work)
    if how == "progress-callback":
        calls = {"n": 0}

        @contextlib.contextmanager
        def interrupting_progress(description, **kw):
            def callback(info):
                calls["n"] += 1
                if calls["n"] == 2:
                    raise KeyboardInterrupt

            yield callback

        monkeypatch.setattr(cli_output, "render_progress", interrupting_progress)
    elif how == "audio-write":
        _fail_audio_write(monkeypatch, KeyboardInterrupt(), after=1)
    else:  # -o writes no preset JSON
        _fail_text_write(monkeypatch, KeyboardInterrupt())
    args = [] if layout == "folder" else ["-o", "existing.wav", "--overwrite"]
    res = invoke("apply", "long.wav", "--preset-file", "gain.yaml", *args)
    assert_interrupted(res)
    assert digests(work) == before
    assert run_folders(work) == [] and hidden(work) == []


def _batch_tree(work: Path, n: int = 8) -> Path:
    root = work / "in"
    root.mkdir()
    for i in range(n):
        sf.write(root / f"take{i}.wav", sine(200.0 + 40 * i, 0.3, SR, amplitude=0.4).T, SR)
    return root


def _check_resume(work: Path, root: Path, first_done: set[str]) -> None:
    """After an interruption: no partials; what exists is complete; a re-run does the rest once."""
    out = work / "out"
    assert not out.exists() or hidden(out) == []
    present = {p.name for p in out.glob("*.wav")} if out.exists() else set()
    for name in present:
        assert sf.info(str(out / name)).frames == sf.info(str(root / name)).frames
    res = invoke("batch", root, "--preset-file", "gain.yaml", "--output-dir", "out", "--workers", "1")
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    total = len(list(root.glob("*.wav")))
    assert report["counts"] == {"done": total - len(present), "skipped": len(present), "failed": 0}
    assert {Path(f["in_path"]).name for f in report["files"] if f["status"] == "skipped"} == present
    assert {p.name for p in out.glob("*.wav")} == {p.name for p in root.glob("*.wav")}
    assert hidden(out) == []


def test_ctrl_c_during_batch_in_process_then_resume(work, monkeypatch):
    root = _batch_tree(work)
    before = digests(root)
    written: set[str] = set()
    real = sf.SoundFile.write
    state = {"files": 0}

    def write(self, data):
        # the 4th output file is interrupted in the middle of its first block
        name = Path(str(self.name)).name
        if name not in written:
            written.add(name)
            state["files"] += 1
        if state["files"] == 4:
            raise KeyboardInterrupt
        return real(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", write)
    res = invoke("batch", root, "--preset-file", "gain.yaml", "--output-dir", "out", "--workers", "1")
    assert_interrupted(res)
    monkeypatch.setattr(sf.SoundFile, "write", real)
    assert len(list((work / "out").glob("*.wav"))) == 3
    _check_resume(work, root, set())
    assert digests(root) == before


def test_ctrl_c_during_batch_with_workers_then_resume(work, monkeypatch):
    from audiomanip.batch import engine

    root = _batch_tree(work, 10)
    before = digests(root)
    real_run = engine.run_batch

    def interrupted_run(jobs, options, *, workers=1, progress=None, **kw):
        def stop_after_two(info):
            if progress:
                progress(info)
            if info["done"] == 2:
                raise KeyboardInterrupt

        return real_run(jobs, options, workers=workers, progress=stop_after_two, **kw)

    monkeypatch.setattr(engine, "run_batch", interrupted_run)
    res = invoke("batch", root, "--preset-file", "gain.yaml", "--output-dir", "out", "--workers", "2")
    assert_interrupted(res)
    monkeypatch.setattr(engine, "run_batch", real_run)
    assert len(list((work / "out").glob("*.wav"))) >= 2
    _check_resume(work, root, set())
    assert digests(root) == before


# ================================================================== text shown as it is
def test_brackets_and_dollars_in_names_are_not_markup(work):
    """Paths, preset names and errors with [brackets] or $ signs are printed, never interpreted
    (rich markup / matplotlib TeX), and never crash the command."""
    (work / "d[").mkdir()
    odd = work / "d[" / "x].wav"  # shown as d[/x].wav: a rich closing tag
    sf.write(odd, sine(440.0, 0.3, SR).T, SR)
    (work / "name.yaml").write_text('name: "[/oops] [bold]costs $x^{ now"\noutput:\n  gain_db: -3\n')
    res = invoke("apply", "d[/x].wav", "--preset-file", "name.yaml", "--plot")
    assert res.exit_code == 0, res.output
    assert "[/oops] [bold]costs $x^{ now" in res.stdout
    folder = run_folders(work)[0]
    assert (folder / f"{folder.name.split('_', 2)[2]}.png").read_bytes().startswith(b"\x89PNG")
    res = invoke("apply", "d[/missing].wav", "--preset-file", "name.yaml")
    assert_user_error(res, errors.InputNotFoundError.exit_code, "d[/missing].wav")
    (work / "d[" / "bad].wav").write_bytes(b"not audio")
    res = invoke("batch", "d[", "--preset-file", "gain.yaml", "--output-dir", "o[/z]", "--workers", "1")
    assert res.exit_code == 1, res.output
    assert "bad].wav" in res.stdout and "o[/z]/report.json" in res.stdout
    assert "Traceback" not in res.output and "internal error" not in res.output


# ================================================================== usage errors
@pytest.mark.parametrize(
    "args, words",
    [
        (["apply", "tone.wav", "--bogus"], "--bogus"),
        (["apply", "tone.wav", "--preset-file", "gain.yaml", "--strength", "abc"], "--strength"),
        (["apply"], "IN"),
        (["nosuchcommand"], "nosuchcommand"),
        (["batch", ".", "--preset-file", "gain.yaml", "--workers", "0"], "--workers"),
        (["apply", "tone.wav", "--preset-file", "gain.yaml", "--audio-length", "-1"], "audio-length"),
        (["apply", "tone.wav", "--preset-file", "gain.yaml", "--sample-rate", "5"], "sample-rate"),
    ],
)
def test_usage_errors_are_one_line(work, args, words):
    res = invoke(*args)
    assert_user_error(res, errors.UsageError.exit_code, words)
    assert "--help" in res.stderr or "between" in res.stderr or "positive" in res.stderr


def test_real_process_prints_one_line_whatever_the_terminal_width(work):
    """Through the console entry point: a long message stays on one line, no traceback."""
    long_name = "a_really_long_folder_name_" * 8 + "/take.wav"
    env = {**os.environ, "COLUMNS": "40", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "audiomanip", "apply", long_name, "--preset-file", "gain.yaml"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == errors.InputNotFoundError.exit_code, proc.stderr
    assert proc.stderr.count("\n") == 1 and long_name in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "audiomanip", "apply", "tone.wav", "--no-such-option"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr


def test_internal_errors_are_one_line_with_their_own_code(work, monkeypatch):
    import audiomanip.processing as processing

    def broken(*a, **kw):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(processing, "process_file", broken)
    res = invoke("apply", "tone.wav", "--preset-file", "gain.yaml")
    line = assert_user_error(res, _common.INTERNAL_ERROR_EXIT_CODE, "internal error", "ZeroDivisionError")
    assert "--debug" in line and run_folders(work) == []


# ================================================================== exit codes
def _error_classes() -> list[type[errors.AudiomanipError]]:
    return [
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, errors.AudiomanipError) and c is not errors.AudiomanipError
    ]


def test_exit_codes_are_distinct():
    classes = _error_classes()
    assert len(classes) >= 9
    codes = [c.exit_code for c in classes]
    assert len(set(codes)) == len(codes), {c.__name__: c.exit_code for c in classes}
    special = {0, 1, _common.INTERNAL_ERROR_EXIT_CODE, _common.INTERRUPTED_EXIT_CODE}
    assert not set(codes) & special
    assert all(2 <= c < 126 for c in codes)  # 126+ mean "not executable", "not found", signals
    assert errors.PRESET_ERROR_EXIT_CODE == errors.PresetFileError.exit_code
    assert errors.UsageError.exit_code == 2  # the same code Click gives its own usage errors


def test_each_error_class_reaches_the_user_with_its_code(work, monkeypatch):
    """One real command per error class; the code on exit is the class's."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    (work / "junk.wav").write_bytes(b"junk" * 100)
    (work / "bad.yaml").write_text("output:\n  gain_db: 99\n")
    cases = {
        errors.UsageError: ["apply", "tone.wav"],
        errors.InputNotFoundError: ["apply", "nope.wav", "--preset-file", "gain.yaml"],
        errors.AudioReadError: ["apply", "junk.wav", "--preset-file", "gain.yaml"],
        errors.OutputError: [
            "apply",
            "tone.wav",
            "--preset-file",
            "gain.yaml",
            "-o",
            "tone.wav",
            "--overwrite",
        ],
        errors.PresetFileError: ["apply", "tone.wav", "--preset-file", "bad.yaml"],
        errors.CheckpointError: ["apply", "tone.wav", "warm", "--checkpoint-path", "nope", "--device", "cpu"],
        errors.DeviceError: ["apply", "tone.wav", "warm", "--device", "cuda"],
        errors.PromptError: ["apply", "tone.wav", "   "],
        errors.ClusterError: [
            "batch",
            ".",
            "--preset-file",
            "gain.yaml",
            "--engine",
            "ray",
            "--address",
            "127.0.0.1:1",
        ],
    }
    for cls, args in cases.items():
        assert_user_error(invoke(*args), cls.exit_code)
    missing = set(_error_classes()) - set(cases) - {errors.DependencyError}
    assert not missing, f"no end-to-end case for {missing}"


README_TABLE_HEADING = re.compile(r"^#+ .*exit codes?", re.IGNORECASE | re.MULTILINE)


def test_readme_exit_code_table_matches_the_code():
    readme = Path(__file__).resolve().parents[1] / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    match = README_TABLE_HEADING.search(text)
    if match is None:
        pytest.skip("README.md has no exit-code section yet (table drafted in notes/README_exit_codes.md)")
    section = text[match.end() :]
    nxt = re.search(r"^#+ ", section, re.MULTILINE)
    section = section[: nxt.start()] if nxt else section
    rows = dict(re.findall(r"^\|\s*`?(\d+)`?\s*\|\s*`?(\w+)`?", section, re.MULTILINE))
    for cls in _error_classes():
        assert rows.get(str(cls.exit_code)) == cls.__name__, (cls.__name__, rows)
    assert str(_common.INTERNAL_ERROR_EXIT_CODE) in rows and str(_common.INTERRUPTED_EXIT_CODE) in rows


# ================================================================== prompts and devices


@pytest.fixture(params=["default-model", "tiny-model"])
def model_args(request) -> list[str]:
    """Options that select the model: the shipped default (skipped while it is missing), or the
    tiny checkpoint."""
    if request.param == "default-model":
        if not DEFAULT_MODEL_DIR.exists():
            pytest.skip("no default model")
        return ["--device", "cpu"]
    return ["--checkpoint-path", str(request.getfixturevalue("tiny_model")), "--device", "cpu"]


def dry_run(prompt: str, model_args: list[str]):
    """`apply tone.wav PROMPT --dry-run --json` (`--` first so that any prompt is taken as text)."""
    return invoke("apply", "--dry-run", "--json", *model_args, "--", "tone.wav", prompt)


@pytest.mark.parametrize("prompt", ["", "   ", " \t\n \r "], ids=["empty", "spaces", "whitespace"])
def test_empty_prompts_are_refused_before_loading_a_model(work, prompt):
    res = invoke("apply", "tone.wav", prompt, "--checkpoint-path", "no_model_here")
    assert_user_error(res, errors.PromptError.exit_code, "empty")
    res = invoke("batch", ".", "--prompt", prompt, "--checkpoint-path", "no_model_here")
    assert_user_error(res, errors.PromptError.exit_code, "empty")
    (work / "prompts.txt").write_text(f"# only comments\n{prompt}\n\n")
    res = invoke("batch", ".", "--prompts", "prompts.txt", "--checkpoint-path", "no_model_here")
    assert_user_error(res, errors.PromptError.exit_code, "prompts.txt")
    assert run_folders(work) == []


PROMPTS = {
    "control-chars": "warm\x07 tape\x1b[31m with a \x00small\x7f room\r",
    "japanese": "温かいテープの音、小さな部屋",
    "russian": "тёплый ламповый звук с небольшой комнатой",
    "arabic-rtl": "صوت دافئ مع صدى قاعة كبيرة",
    "emoji": "🎸🔥 warm and crunchy 🏛️ big hall ✨",
    "path-like": "../../etc/passwd",
    "device-path": "/dev/zero",
    "option-like": "--overwrite",
    "short-option": "-o out.wav",
    "file-name": "tone.wav",
    "markup": "[/bold] $x^{ [red]loud",
}


@pytest.mark.parametrize("prompt", list(PROMPTS.values()), ids=list(PROMPTS))
def test_odd_prompts_are_just_text(work, model_args, prompt):
    before = digests(work)
    res = dry_run(prompt, model_args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["dry_run"] is True and data["source"] == "prompt"
    assert data["prompt"] == " ".join(prompt.split())  # whitespace normalised, nothing else lost
    preset = Preset.from_dict(data["preset"], strict=True)
    assert all(
        np.isfinite(float(v)) for e in preset.values.values() for v in e.values() if not isinstance(v, str)
    )
    assert "Traceback" not in res.output
    assert digests(work) == before and run_folders(work) == []  # a dry run writes nothing


def test_ten_thousand_character_prompt_is_truncated_with_a_notice(work, model_args):
    words = ["warm", "vintage", "tape", "small", "room", "bright", "airy", "crunchy"]
    prompt = " ".join(words[i % len(words)] for i in range(2000))[:10_000]
    assert len(prompt) == 10_000
    res = dry_run(prompt, model_args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    Preset.from_dict(data["preset"], strict=True)
    notices = [line for line in res.stderr.splitlines() if "truncat" in line.lower()]
    assert len(notices) == 1, (
        f"expected one notice that the prompt was truncated, stderr: {res.stderr[:500]!r}"
    )


def test_odd_prompt_through_a_real_run_gives_a_safe_folder_name(work, tiny_model):
    prompt = "../../ warm\x1b[31m ☕ tape/\\ CON"
    res = invoke(
        "apply", "--checkpoint-path", tiny_model, "--device", "cpu", "--json", "--", "tone.wav", prompt
    )
    assert res.exit_code == 0, res.output
    folder = Path(json.loads(res.stdout)["folder"])
    assert folder.parent == Path("output") and folder.is_dir()
    assert re.fullmatch(r"\d{8}_\d{6}_[a-z0-9_-]+", folder.name)
    assert [p for p in work.iterdir()] and not (work.parent / "warm").exists()


def test_cuda_without_cuda_is_a_clear_error(work, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for cmd in (
        ["apply", "tone.wav", "warm tape"],
        ["batch", ".", "--prompt", "warm tape"],
        ["export-preset", "warm tape"],
    ):
        res = invoke(*cmd, "--device", "cuda", "--checkpoint-path", "never_loaded")
        assert_user_error(res, errors.DeviceError.exit_code, "CUDA", "--device cpu")
    res = invoke("apply", "tone.wav", "warm", "--device", "tpu")
    assert_user_error(res, errors.DeviceError.exit_code, "tpu")


def test_auto_device_falls_back_to_cpu_with_a_note(work, monkeypatch, tiny_model):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    res = invoke(
        "apply",
        "tone.wav",
        "warm tape",
        "--checkpoint-path",
        tiny_model,
        "--device",
        "auto",
        "--dry-run",
        "--json",
    )
    assert res.exit_code == 0, res.output
    notes = [line for line in res.stderr.splitlines() if "CUDA" in line]
    assert len(notes) == 1 and notes[0].startswith("note:") and "CPU" in notes[0], res.stderr
    json.loads(res.stdout)  # the note is on stderr only: stdout stays one JSON document
    res = invoke(
        "apply", "tone.wav", "warm tape", "--checkpoint-path", tiny_model, "--device", "cpu", "--dry-run"
    )
    assert res.exit_code == 0 and "CUDA" not in res.stderr
    # without a prompt no model runs: no device note at all
    res = invoke("apply", "tone.wav", "--preset-file", "gain.yaml", "--device", "auto", "--dry-run")
    assert res.exit_code == 0 and "CUDA" not in res.stderr
