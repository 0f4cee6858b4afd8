"""Bad, odd and big audio inputs through `audiomanip apply` (issue 6).

Every case runs the real command (a preset file, so no model is needed) on a file written here:
unreadable inputs must end in one stderr line with the input error's exit code and leave
nothing behind; odd but valid inputs (one sample, silence, NaN/Inf, clipping, 8 kHz mono,
192 kHz 6-channel, every WAV sample format, awkward names) must be processed with the input's
format kept and a measured, correct result. The library-level behaviour of ``audio_io`` is in
tests/test_audio_io.py; this file checks the command end to end.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_helpers import assert_user_error, digests, invoke

from audiomanip.training.sources import sine
from audiomanip.errors import AudioReadError, InputNotFoundError
from audiomanip.params import Preset
from audiomanip.rendering import PEAK_CEILING_DBFS

SR = 8000
GAIN_DB = -6.0
CEILING = 10 ** (PEAK_CEILING_DBFS / 20)


def gain_preset(gain_db: float = GAIN_DB) -> Preset:
    p = Preset.default()
    p.set("output", "gain_db", gain_db)
    return p


def chain_preset() -> Preset:
    """Every effect on: EQ boost, drive, compression, reverb, output gain."""
    p = Preset.default()
    p.set("eq", "band3_gain_db", 6.0)
    p.set("distortion", "drive_db", 6.0)
    p.set("compressor", "threshold_db", -20.0)
    p.set("reverb", "wet", 0.3)
    p.set("output", "gain_db", -3.0)
    p.set("pitch", "semitones", 0.0, enable=False)
    return p


@pytest.fixture
def work(tmp_path, monkeypatch):
    """cwd = a folder holding gain.yaml (-6 dB) and chain.yaml (every effect but pitch)."""
    monkeypatch.chdir(tmp_path)
    gain_preset().save(tmp_path / "gain.yaml")
    chain_preset().save(tmp_path / "chain.yaml")
    return tmp_path


def tone(seconds: float = 0.5, sr: int = SR, channels: int = 1, amplitude: float = 0.5) -> np.ndarray:
    """float32 [C, T]: channel c is a sine at 300·(c+1) Hz."""
    return np.concatenate(
        [sine(300.0 * (c + 1), seconds, sr, amplitude=amplitude, channels=1) for c in range(channels)]
    ).astype(np.float32)


def write(path: Path, audio: np.ndarray, sr: int = SR, subtype: str | None = None) -> Path:
    sf.write(path, np.asarray(audio).T, sr, subtype=subtype)
    return path


def no_run_folder(work: Path) -> bool:
    """True when no run folder exists (an empty ``output/`` root may remain)."""
    return not (work / "output").exists() or not list((work / "output").iterdir())


def no_leftovers(folder: Path) -> None:
    hidden = [p for p in folder.rglob(".*")]
    assert hidden == [], f"temporary files left behind: {hidden}"


# ------------------------------------------------------------------ inputs that cannot be read
def _missing(work):
    return work / "missing.wav"


def _directory(work):
    (work / "folder.wav").mkdir()
    return work / "folder.wav"


def _empty(work):
    (work / "empty.wav").write_bytes(b"")
    return work / "empty.wav"


def _truncated_wav(work):
    data = write(work / "full.wav", tone(), subtype="PCM_16").read_bytes()
    (work / "full.wav").unlink()
    (work / "truncated.wav").write_bytes(data[: len(data) // 2])
    return work / "truncated.wav"


def _header_only_wav(work):
    data = write(work / "full.wav", tone(), subtype="PCM_16").read_bytes()
    (work / "full.wav").unlink()
    (work / "header.wav").write_bytes(data[:44])
    return work / "header.wav"


def _text_as_wav(work):
    (work / "notes.wav").write_text("These are my session notes, not audio.\n" * 40)
    return work / "notes.wav"


def _zero_samples(work):
    return write(work / "zero.wav", np.zeros((1, 0), np.float32))


def _truncated_flac(work):
    # the header is intact, so this fails only while streaming: after the output was opened
    data = write(work / "full.flac", tone(2.0, channels=2)).read_bytes()
    (work / "full.flac").unlink()
    (work / "truncated.flac").write_bytes(data[: len(data) // 2])
    return work / "truncated.flac"


def _truncated_ogg(work):
    from audiomanip import audio_io

    data = audio_io.write(work / "full.ogg", tone(2.0, 44100, channels=2), 44100).read_bytes()
    (work / "full.ogg").unlink()
    (work / "truncated.ogg").write_bytes(data[: len(data) // 2])
    return work / "truncated.ogg"


def _random_bytes_mp3(work):
    (work / "noise.mp3").write_bytes(np.random.default_rng(0).bytes(3000))
    return work / "noise.mp3"


@pytest.mark.parametrize(
    "make, code, words",
    [
        (_missing, InputNotFoundError.exit_code, ["missing.wav", "not found"]),
        (_directory, InputNotFoundError.exit_code, ["folder.wav", "folder"]),
        (_empty, AudioReadError.exit_code, ["empty.wav", "empty (0 bytes)"]),
        (_truncated_wav, AudioReadError.exit_code, ["truncated.wav", "truncated"]),
        (_header_only_wav, AudioReadError.exit_code, ["header.wav", "no audio samples"]),
        (_text_as_wav, AudioReadError.exit_code, ["notes.wav", "not a valid WAV"]),
        (_zero_samples, AudioReadError.exit_code, ["zero.wav", "no audio samples"]),
        (_truncated_flac, AudioReadError.exit_code, ["truncated.flac"]),
        (_truncated_ogg, AudioReadError.exit_code, ["truncated.ogg"]),
        (_random_bytes_mp3, AudioReadError.exit_code, ["noise.mp3"]),
    ],
    ids=[
        "missing",
        "directory",
        "0-bytes",
        "truncated-wav",
        "header-only",
        "text-renamed-wav",
        "0-samples",
        "truncated-flac",
        "truncated-ogg",
        "random-bytes-mp3",
    ],
)
@pytest.mark.parametrize("layout", ["folder", "-o"])
def test_unreadable_input_is_one_line_and_leaves_nothing(work, make, code, words, layout):
    path = make(work)
    before = digests(work)
    args = ["apply", path, "--preset-file", "chain.yaml"] + (["-o", "out.wav"] if layout == "-o" else [])
    res = invoke(*args)
    assert_user_error(res, code, *words)
    assert digests(work) == before  # input untouched, nothing written: no run folder, no out.wav
    assert no_run_folder(work) and not (work / "out.wav").exists()


# ------------------------------------------------------------------ odd inputs that must work
def run_ok(*args) -> dict:
    res = invoke("apply", *args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def read(path) -> tuple[np.ndarray, int]:
    y, sr = sf.read(str(path), dtype="float64", always_2d=True)
    return y.T, sr


def test_single_sample(work):
    write(work / "one.wav", np.array([[0.5]], np.float32), subtype="PCM_16")
    data = run_ok("one.wav", "--preset-file", "gain.yaml", "-o", "one_out.wav")
    y, sr = read(work / "one_out.wav")
    assert (sr, y.shape) == (SR, (1, 1))
    assert y[0, 0] == pytest.approx(0.5 * 10 ** (GAIN_DB / 20), abs=1 / 2**15)
    assert data["result"]["in_frames"] == 1
    # every effect on a single sample: finite, within the ceiling, reverb tail appended
    data = run_ok("one.wav", "--preset-file", "chain.yaml", "-o", "one_chain.wav")
    y, _ = read(work / "one_chain.wav")
    assert y.shape[1] > 1 and np.isfinite(y).all() and np.abs(y).max() <= CEILING + 1 / 2**15


def test_digital_silence_stays_silent(work):
    write(work / "silence.wav", np.zeros((2, SR), np.float32), subtype="PCM_24")
    data = run_ok("silence.wav", "--preset-file", "chain.yaml", "-o", "s.wav", "--match-loudness")
    y, sr = read(work / "s.wav")
    assert sr == SR and y.shape[0] == 2 and y.shape[1] >= SR
    assert np.isfinite(y).all() and np.abs(y).max() == 0.0
    # loudness of silence is reported as "none", never NaN, in the JSON
    assert data["result"]["loudness_in_lufs"] is None or data["result"]["loudness_in_lufs"] < -100
    assert "NaN" not in json.dumps(data) and "Infinity" not in json.dumps(data)


def test_nan_and_inf_samples_are_zeroed_with_one_warning(work):
    x = tone(1.0, channels=2)
    bad = x.copy()
    bad[0, 100], bad[1, 200], bad[1, 300], bad[0, 4000] = np.nan, np.inf, -np.inf, np.nan
    write(work / "nan.wav", bad, subtype="FLOAT")
    clean = x.copy()
    clean[~np.isfinite(bad)] = 0.0
    write(work / "clean.wav", clean, subtype="FLOAT")
    res = invoke("apply", "nan.wav", "--preset-file", "chain.yaml", "-o", "nan_out.wav")
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "4 non-finite" in warnings[0] and "nan.wav" in warnings[0], res.stderr
    assert invoke("apply", "clean.wav", "--preset-file", "chain.yaml", "-o", "clean_out.wav").exit_code == 0
    y, _ = read(work / "nan_out.wav")
    assert np.isfinite(y).all() and np.abs(y).max() > 0.05
    # NaN/Inf became exact zeros: the result is the render of the repaired input
    np.testing.assert_array_equal(y, read(work / "clean_out.wav")[0])


def test_all_nan_input_gives_silence_not_nan(work):
    write(work / "allnan.wav", np.full((1, 800), np.nan, np.float32), subtype="FLOAT")
    data = run_ok("allnan.wav", "--preset-file", "chain.yaml", "-o", "a.wav")
    y, _ = read(work / "a.wav")
    assert np.isfinite(y).all() and np.abs(y).max() == 0.0
    assert data["result"]["warnings"] and "800 non-finite" in data["result"]["warnings"][0]


def test_clipping_input_is_kept_under_the_ceiling(work):
    hot = np.clip(tone(1.0, amplitude=4.0), -1.0, 1.0)  # a square-ish wave at full scale
    write(work / "clipped.wav", hot, subtype="PCM_16")
    boost = gain_preset(+12.0)
    boost.save(work / "boost.yaml")
    run_ok("clipped.wav", "--preset-file", "boost.yaml", "-o", "b.wav")
    y, _ = read(work / "b.wav")
    assert np.abs(y).max() <= CEILING + 1 / 2**15
    # limited, not wrapped around: the sign follows the input wherever the input is loud
    loud = np.abs(hot[0]) > 0.5
    assert np.all(np.sign(y[0, loud]) == np.sign(hot[0, loud]))
    # a float input beyond full scale: peak safety brings it under the ceiling ...
    write(work / "over.wav", tone(1.0, amplitude=4.0), subtype="FLOAT")
    run_ok("over.wav", "--preset-file", "gain.yaml", "-o", "o.wav")
    y, _ = read(work / "o.wav")
    assert np.abs(y).max() <= CEILING + 1e-6
    # ... and without it a float file keeps the overs (4.0 at -6 dB ≈ 2.0)
    run_ok("over.wav", "--preset-file", "gain.yaml", "-o", "o_raw.wav", "--no-peak-safety")
    y, _ = read(work / "o_raw.wav")
    assert np.abs(y).max() == pytest.approx(4.0 * 10 ** (GAIN_DB / 20), rel=1e-3)


def test_8khz_mono(work):
    x = tone(1.0, 8000)
    write(work / "phone.wav", x, 8000, subtype="PCM_16")
    run_ok("phone.wav", "--preset-file", "gain.yaml", "-o", "p.wav")
    y, sr = read(work / "p.wav")
    assert sr == 8000 and y.shape == x.shape
    assert sf.info(str(work / "p.wav")).subtype == "PCM_16"
    ratio_db = 20 * np.log10(np.std(y) / np.std(x))
    assert ratio_db == pytest.approx(GAIN_DB, abs=0.01)


def test_192khz_six_channels(work):
    x = tone(0.25, 192000, channels=6, amplitude=0.3)
    write(work / "surround.wav", x, 192000, subtype="PCM_24")
    run_ok("surround.wav", "--preset-file", "gain.yaml", "-o", "g.wav")
    y, sr = read(work / "g.wav")
    info = sf.info(str(work / "g.wav"))
    assert (sr, y.shape, info.subtype) == (192000, x.shape, "PCM_24")
    # every channel stays in its place, 6 dB down
    np.testing.assert_allclose(y, x * 10 ** (GAIN_DB / 20), atol=2 / 2**23)
    # the whole chain on 6 channels at 192 kHz: rate and channels kept, reverb tail added
    run_ok("surround.wav", "--preset-file", "chain.yaml", "-o", "c.wav")
    y, sr = read(work / "c.wav")
    assert sr == 192000 and y.shape[0] == 6 and y.shape[1] > x.shape[1]
    assert np.isfinite(y).all() and np.all(np.std(y, axis=1) > 1e-3)


@pytest.mark.parametrize(
    "subtype, lsb",
    [
        ("PCM_U8", 2 / 2**8),
        ("PCM_16", 2 / 2**16),
        ("PCM_24", 2 / 2**24),
        ("PCM_32", 2 / 2**32),
        ("FLOAT", 1e-7),
        ("DOUBLE", 1e-12),
    ],
    ids=["8-bit", "16-bit", "24-bit", "32-bit", "float32", "float64"],
)
def test_every_wav_sample_format_is_kept(work, subtype, lsb):
    x = tone(0.5, channels=2)
    write(work / f"in_{subtype}.wav", x, subtype=subtype)
    x_read, _ = read(work / f"in_{subtype}.wav")
    run_ok(f"in_{subtype}.wav", "--preset-file", "gain.yaml", "-o", "out.wav")
    info = sf.info(str(work / "out.wav"))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", subtype, SR, 2)
    y, _ = read(work / "out.wav")
    # -6 dB within one step of the format (8-bit: one step either side of the rounding)
    np.testing.assert_allclose(y, x_read * 10 ** (GAIN_DB / 20), atol=max(lsb, 1e-7) * 1.01)


# ------------------------------------------------------------------ awkward paths
@pytest.mark.parametrize(
    "name",
    ["with space.wav", "ünïcödé 音声 🎸.wav", "-weird.wav", "--help.wav", "name'with\"quotes;$(x).wav"],
    ids=["space", "unicode", "dash", "double-dash", "shell-chars"],
)
def test_awkward_input_names(work, name):
    x = tone(0.3)
    write(work / name, x)
    folder_out = work / "out dir ü"
    folder_out.mkdir()
    # options first, then `--`, then a name that looks like an option
    res = invoke("apply", "--preset-file", "gain.yaml", "-o", folder_out / f"{name}", "--json", "--", name)
    assert res.exit_code == 0, res.output
    y, _ = read(folder_out / name)
    np.testing.assert_allclose(y, read(work / name)[0] * 10 ** (GAIN_DB / 20), atol=2 / 2**15)
    # `./-name` needs no `--`; the default run folder works too
    res = invoke("apply", f"./{name}", "--preset-file", "gain.yaml", "--json")
    assert res.exit_code == 0, res.output
    out = Path(json.loads(res.stdout)["output"])
    assert out.is_file() and out.parent.parent == Path("output")
    assert json.loads((out.parent / "gain_preset.json").read_text())["input"] == name  # Path drops "./"
    no_leftovers(work)


@pytest.mark.skipif(os.name != "posix", reason="non-UTF-8 file names exist only on POSIX file systems")
def test_file_name_that_is_not_utf8(work):
    """A name with bytes that are not UTF-8 (a Latin-1 'é' from an old archive)."""
    raw = os.fsencode(str(work)) + b"/caf\xe9.wav"
    x = tone(0.3)
    sf.write(raw, x.T, SR)  # soundfile takes the raw bytes of the name
    name = raw.decode("utf-8", "surrogateescape")
    data = run_ok(name, "--preset-file", "gain.yaml")
    out = Path(data["output"])
    y, _ = read(out)
    np.testing.assert_allclose(y, x * 10 ** (GAIN_DB / 20), atol=2 / 2**15)
    doc = json.loads((out.parent / "gain_preset.json").read_text(encoding="utf-8"))
    assert doc["input"] == name  # the JSON escapes the undecodable byte and reads back the same
    assert "caf" in (out.parent / "metadata.txt").read_text(encoding="utf-8")


def test_long_input_is_streamed_and_length_limited(work):
    """--audio-length on a 60 s file reads only what it needs; the frame count is exact."""
    x = tone(60.0, 16000, amplitude=0.2)
    write(work / "long.flac", x, 16000, subtype="PCM_16")
    run_ok("long.flac", "--preset-file", "gain.yaml", "--audio-length", "1.5", "-o", "cut.flac")
    info = sf.info(str(work / "cut.flac"))
    assert (info.frames, info.samplerate, info.subtype) == (24000, 16000, "PCM_16")
    assert math.isclose(
        np.std(read(work / "cut.flac")[0]) / np.std(x[:, :24000]), 10 ** (GAIN_DB / 20), rel_tol=1e-3
    )


def test_damaged_mp3_gives_one_clean_line_from_a_real_process(work):
    """libmpg123 prints its own diagnostics on the process's stderr (file descriptor 2, which
    CliRunner does not see): through a real process only our one line may appear."""
    import subprocess
    import sys

    from audiomanip import audio_io

    data = audio_io.write(work / "good.mp3", tone(1.0, 16000, channels=2), 16000).read_bytes()
    damaged = bytearray(data)
    for pos in np.random.default_rng(1).integers(400, len(data), 40):
        damaged[pos] ^= 0xFF
    (work / "damaged.mp3").write_bytes(bytes(damaged))
    (work / "cut.mp3").write_bytes(data[: len(data) // 2])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("damaged.mp3", "cut.mp3"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "audiomanip",
                "apply",
                name,
                "--preset-file",
                "gain.yaml",
                "-o",
                f"{name}.wav",
            ],
            cwd=work,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        lines = proc.stderr.strip().splitlines()
        assert all(line.startswith(("error:", "warning:", "note:")) for line in lines), proc.stderr
        if proc.returncode:
            assert proc.returncode == AudioReadError.exit_code and len(lines) == 1, proc.stderr
            assert name in lines[0] and not (work / f"{name}.wav").exists()
