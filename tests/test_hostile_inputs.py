"""Hostile inputs and options (issue 14, findings 9, 10, 11 and the small input items): sample
rates outside 1,000–768,000 Hz, loudness at low rates, the rollback of every step after writing
begins, --audio-length inf/nan, formats that can be read but not written, devices and FIFOs as
inputs, an -o that cannot be written."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_helpers import assert_user_error, invoke, run_process

from audiomanip import errors
from audiomanip.features import estimate_f0_hz

SR = 16000


def _tone(path: Path, sr: int = SR, freq: float = 440.0, seconds: float = 1.0, **kw) -> Path:
    t = np.arange(int(sr * seconds)) / sr
    sf.write(path, 0.3 * np.sin(2 * np.pi * freq * t), sr, **kw)
    return path


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _tone(tmp_path / "tone.wav")
    return tmp_path


def _f0(y: np.ndarray, sr: int) -> float:
    """f0 (Hz) of a written file's samples ([frames] or [frames, channels])."""
    y = np.asarray(y, dtype=np.float32)
    return estimate_f0_hz(y.T if y.ndim == 2 else y[None], sr)


def _everything(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ------------------------------------------------------------------ finding 9: sample rates
@pytest.mark.parametrize("rate", [1, 2, 999, 800000])
def test_input_rate_outside_the_range_is_refused(work, rate):
    sf.write(work / "odd.wav", np.zeros(64), rate)
    before = _everything(work)
    res = invoke("apply", "odd.wav", "-p", "telephone")
    line = assert_user_error(res, errors.AudioReadError.exit_code, f"{rate} Hz", "1000")
    assert "odd.wav" in line
    assert _everything(work) == before


@pytest.mark.parametrize("rate", ["999", "800000", "0", "-5"])
def test_sample_rate_option_outside_the_range_is_refused(work, rate):
    res = invoke("apply", "tone.wav", "-p", "telephone", f"--sample-rate={rate}")
    assert_user_error(res, errors.UsageError.exit_code, "--sample-rate")
    assert not (work / "output").exists()


def test_loudness_at_a_low_rate_is_reported_not_measurable(work):
    _tone(work / "low.wav", sr=2000, freq=100.0)
    res = invoke("apply", "low.wav", "-p", "telephone", "-o", "low_out.wav")
    assert res.exit_code == 0, res.output
    assert "loudness not measured" in res.stderr and "4000 Hz" in res.stderr
    assert sf.info(str(work / "low_out.wav")).samplerate == 2000
    res = invoke("apply", "tone.wav", "-p", "telephone", "-o", "down.wav", "--sample-rate", "2000")
    assert res.exit_code == 0 and "loudness not measured" in res.stderr, res.output
    res = invoke("apply", "low.wav", "-p", "telephone", "--output-dir", "runs")
    (folder,) = (work / "runs").iterdir()
    assert "loudness before:    not measurable" in (folder / "metadata.txt").read_text()
    res = invoke("apply", "low.wav", "-p", "telephone", "-o", "matched.wav", "--match-loudness")
    assert_user_error(res, errors.UsageError.exit_code, "not measurable below 4000 Hz")
    assert not (work / "matched.wav").exists()


@pytest.mark.parametrize("layout, step", [("-o", "loudness"), ("-o", "plot"), ("folder", "loudness"),
                                          ("folder", "preset"), ("folder", "plot")])
def test_a_failure_after_writing_began_leaves_nothing(work, monkeypatch, layout, step):
    """Every step after the audio is written (measurements, preset, metadata, plot) is inside
    the rollback: a failure there removes what the run wrote."""
    import audiomanip.outputs
    import audiomanip.plot
    import audiomanip.processing

    def boom(*a, **kw):
        raise ZeroDivisionError("simulated failure after writing")

    target = {"loudness": (audiomanip.processing, "_loudness"),
              "preset": (audiomanip.outputs, "write_preset_document"),
              "plot": (audiomanip.plot, "plot_preset")}[step]
    monkeypatch.setattr(*target, boom)
    before = _everything(work)
    args = ["-o", "take.wav"] if layout == "-o" else []
    res = invoke("apply", "tone.wav", "-p", "telephone", "--plot", *args)
    assert res.exit_code != 0
    after = [p for p in _everything(work) if p != "output"]  # the --output-dir root may stay
    assert after == before, after


def test_a_failed_measurement_in_a_batch_leaves_no_output(work, monkeypatch):
    """process_file itself rolls back: a batch job that fails after writing leaves no output that
    a resumed batch would take as done."""
    import audiomanip.processing as processing

    (work / "in").mkdir()
    _tone(work / "in" / "a.wav")

    def boom(*a, **kw):
        raise ZeroDivisionError("simulated")

    monkeypatch.setattr(processing, "_peak_dbfs", boom)
    with pytest.raises(ZeroDivisionError):
        processing.process_file(__import__("audiomanip.params").params.Preset.default(), work / "in" / "a.wav",
                                work / "out.wav", match_loudness=True)
    assert not (work / "out.wav").exists()
    assert [p.name for p in work.iterdir() if p.name.startswith(".")] == []


# ------------------------------------------------------------------ finding 10: --audio-length
@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0", "1e400"])
def test_audio_length_that_is_not_a_positive_finite_number(work, value):
    res = invoke("apply", "tone.wav", "-p", "telephone", f"--audio-length={value}", "--output-dir", "o")
    assert_user_error(res, errors.UsageError.exit_code, "--audio-length")
    (work / "in").mkdir()
    _tone(work / "in" / "a.wav")
    res = invoke("batch", "in", "-p", "telephone", f"--audio-length={value}", "--output-dir", "b", "--workers", "1")
    assert_user_error(res, errors.UsageError.exit_code, "--audio-length")
    assert not (work / "o").exists() and not (work / "b").exists()


# ------------------------------------------------------------------ finding 11: read-only formats
FORMATS = [("au", "AU"), ("snd", "AU"), ("aifc", "AIFF"), ("opus", "OGG")]


def _make(path: Path, sr: int = 48000) -> Path:
    ext = path.suffix.lstrip(".")
    fmt = {"au": "AU", "snd": "AU", "aifc": "AIFF", "opus": "OGG", "voc": "VOC"}[ext]
    sub = {"opus": "OPUS", "voc": "PCM_16"}.get(ext, "PCM_16")
    return _tone(path, sr=sr, format=fmt, subtype=sub)


def test_batch_writes_each_format_it_reads(work):
    (work / "in").mkdir()
    for ext, _ in FORMATS:
        _make(work / "in" / f"x_{ext}.{ext}")
    res = run_process("batch", "in", "-p", "telephone", "--output-dir", "out", "--workers", "1", cwd=work)
    assert res.returncode == 0, res.stderr
    assert "cannot tell" not in res.stderr
    for ext, fmt in FORMATS:
        out = work / "out" / f"x_{ext}.{ext}"
        info = sf.info(str(out))
        assert info.format == fmt and (ext != "opus" or info.subtype == "OPUS"), (ext, info)
        y, sr = sf.read(str(out))
        assert _f0(y, sr) == pytest.approx(440.0, rel=0.02)


def test_unwritable_format_falls_back_to_wav_with_a_note(work):
    (work / "in").mkdir()
    _make(work / "in" / "take.voc", sr=16000)
    res = run_process("batch", "in", "-p", "telephone", "--output-dir", "out", "--workers", "1", "--pattern", "*.voc",
               cwd=work)
    assert res.returncode == 0, res.stderr
    assert "note: .voc files can be read but not written: their outputs are WAV" in res.stderr
    y, sr = sf.read(str(work / "out" / "take.wav"))
    assert _f0(y, sr) == pytest.approx(440.0, rel=0.02)
    # default-folder apply: the note names the WAV it wrote, never a path the user did not give
    res = invoke("apply", "in/take.voc", "-p", "telephone", "--output-dir", "runs")
    assert res.exit_code == 0, res.output
    (folder,) = (work / "runs").iterdir()
    assert sf.info(str(folder / "telephone.wav")).format == "WAV"
    assert "written as WAV, telephone.wav" in " ".join(res.stderr.split())
    assert "runs/" not in res.stderr


@pytest.mark.parametrize("ext", ["au", "aifc", "opus"])
def test_default_folder_apply_keeps_the_format(work, ext):
    _make(work / f"in.{ext}")
    res = invoke("apply", f"in.{ext}", "-p", "telephone", "--output-dir", "runs")
    assert res.exit_code == 0, res.output
    (folder,) = (work / "runs").iterdir()
    assert (folder / f"telephone.{ext}").is_file()


def test_opus_at_a_rate_opus_cannot_hold_falls_back_to_wav(work):
    _make(work / "in.opus")
    res = invoke("apply", "in.opus", "-p", "telephone", "--sample-rate", "44100", "--output-dir", "runs")
    assert res.exit_code == 0, res.output
    (folder,) = (work / "runs").iterdir()
    assert sf.info(str(folder / "telephone.wav")).samplerate == 44100
    assert "Opus does not support 44100 Hz" in res.stderr


@pytest.mark.parametrize("target, words", [("out.xyz", "cannot tell the audio format"),
                                           ("missing/out.wav", "does not exist"),
                                           ("out.mp3", "MP3 does not support 96000 Hz")])
def test_unwritable_o_is_refused_up_front(work, target, words):
    """Refused before the model loads: a checkpoint that does not exist is never looked at."""
    res = invoke("apply", "tone.wav", "a warm tone", "--checkpoint-path", "no-such-model", "-o", target,
                 "--sample-rate", "96000")
    assert_user_error(res, errors.OutputError.exit_code, words)


# ------------------------------------------------------------------ devices and FIFOs as input
def test_fifo_and_device_inputs_are_named_as_such(work):
    os.mkfifo(work / "pipe.wav")
    res = run_process("apply", "pipe.wav", "-p", "telephone", cwd=work)
    assert res.returncode == errors.AudioReadError.exit_code, res.stderr
    assert "FIFO" in res.stderr and "0 bytes" not in res.stderr
    res = run_process("apply", "/dev/urandom", "-p", "telephone", cwd=work)
    assert res.returncode == errors.AudioReadError.exit_code, res.stderr
    assert "character device" in res.stderr and "0 bytes" not in res.stderr
    assert not (work / "output").exists()
