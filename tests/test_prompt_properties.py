"""Prompts of any text or bytes end in a preset or in one clear error line, never in an internal
error (issue 14, finding 8 and the property test on prompts), plus the small prompt and preset
items users notice: a trailing "# comment" in a --prompts file, duplicate keys in a preset file,
--checkpoint-dir given a file.

Bytes reach a real process's argv undecoded (Python keeps them as lone surrogates); in-process
the same strings are made with ``bytes.decode("utf-8", "surrogateescape")``. The tiny test model
of conftest.py is loaded once for all examples."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_helpers import assert_user_error, invoke, run_process
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiomanip import errors

SR = 16000
INTERNAL_ERROR = 70


@pytest.fixture(scope="module")
def tone(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tone") / "tone.wav"
    t = np.arange(SR // 2) / SR
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * t), SR)
    return path


@pytest.fixture
def cached_model(tiny_model, monkeypatch):
    """The tiny model, loaded once per test however many prompts run."""
    import audiomanip.inference.loader as loader

    real = loader.load_model
    cache: dict = {}

    def load_model(**kw):
        if "model" not in cache:
            cache["model"] = real(checkpoint_path=tiny_model, device="cpu")
        return cache["model"]

    monkeypatch.setattr(loader, "load_model", load_model)
    return tiny_model


# ------------------------------------------------------------------ finding 8: real argv bytes
def test_non_utf8_prompt_bytes_in_a_real_process(tmp_path, tone, tiny_model):
    prompt = b"pitch up 2 semitones \xff\xfe"
    ck = ["--checkpoint-path", str(tiny_model)]
    res = run_process("apply", str(tone), prompt, "--dry-run", *ck, cwd=tmp_path, text=False)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    err = res.stderr.decode()
    assert "not UTF-8" in err and "U+FFFD" in err and "pitch.semitones = 2" in err
    res = run_process("export-preset", prompt, "-o", "-", *ck, cwd=tmp_path, text=False)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    assert "semitones: 2.0" in res.stdout.decode()
    (tmp_path / "in").mkdir()
    os.link(tone, tmp_path / "in" / "a.wav")
    res = run_process("batch", "in", "--prompt", prompt, "--workers", "1", "--output-dir", "out", *ck, cwd=tmp_path, text=False)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    assert "not UTF-8" in res.stderr.decode()
    y, _ = sf.read(str(next((tmp_path / "out").rglob("*.wav"))))
    assert y.shape[0] == SR // 2


# ------------------------------------------------------------------ property: any prompt
def _argv_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


PROMPTS = st.one_of(
    st.text(min_size=0, max_size=60),
    st.binary(min_size=0, max_size=60).map(_argv_text),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x30000), max_size=30),
    st.sampled_from(["down 5 semitones \x1b[2J", "1e309 semitones up", "-40% wet", "boost 1 MHz by 90 dB",
                     "\u202e\u2028\x85", "   ", "#", "[bold]x[/]", "ｐｉｔｃｈ －３ ｓｔ"]),
).filter(lambda s: "\x00" not in s)  # argv cannot hold NUL


def _check(res) -> None:
    assert res.exit_code != INTERNAL_ERROR, res.output
    if res.exit_code != 0:
        lines = res.stderr.strip().splitlines()
        assert len(lines) >= 1 and lines[-1].startswith("error:") and "Traceback" not in res.output, res.stderr
        assert sum(line.startswith("error:") for line in lines) == 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=PROMPTS)
def test_any_prompt_gives_a_preset_or_one_error_line(prompt, tone, cached_model):
    _check(invoke("apply", tone, "--dry-run", "--json", "--", prompt))
    _check(invoke("export-preset", "-o", "-", "-f", "json", "--", prompt))


@settings(max_examples=200, deadline=None)
@given(prompt=PROMPTS)
def test_explicit_parser_never_raises(prompt):
    from audiomanip.vocab.explicit import parse_explicit
    from audiomanip.params import Preset

    values = parse_explicit(prompt)
    preset = values.resolve(Preset.default())
    Preset.from_dict(preset.to_dict())  # still within the schema


# ------------------------------------------------------------------ small items
def test_prompts_file_trailing_comments(tmp_path):
    from audiomanip.preset_source import read_prompt_file

    f = tmp_path / "prompts.txt"
    f.write_text("# a header\nwarm tape   # for the vocals\nC# minor vibe\ndark#not-a-comment\n\n  # only\n")
    assert read_prompt_file(f) == ["warm tape", "C# minor vibe", "dark#not-a-comment"]


@pytest.mark.parametrize("name, text, line", [
    ("dup.json", '{"output": {"enabled": true, "gain_db": -3, "gain_db": 6}}', None),
    ("dup.yaml", "output:\n  gain_db: -3\n  gain_db: 6\n", 3),
    ("top.yaml", "reverb: {wet: 0.2}\nreverb: {wet: 0.9}\n", 2),
])
def test_duplicate_keys_in_a_preset_file_are_refused(tmp_path, tone, name, text, line):
    (tmp_path / name).write_text(text)
    res = invoke("apply", tone, "--preset-file", tmp_path / name, "--dry-run")
    msg = assert_user_error(res, errors.PresetFileError.exit_code, "duplicate key")
    assert "'gain_db'" in msg or "'reverb'" in msg
    if line:
        assert f"line {line}" in msg


def test_checkpoint_dir_that_is_a_file(tmp_path, tone):
    res = invoke("apply", tone, "warm", "--checkpoint-dir", tone, "--dry-run")
    assert_user_error(res, errors.CheckpointError.exit_code, "is a file, not a folder")
