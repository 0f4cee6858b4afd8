"""`audiomanip apply` end to end: layout, preset JSON, options, measured results, errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audiomanip.commands.app import app
from cli_helpers import invoke, runner

from audiomanip.training.sources import pink_noise, sine
from audiomanip.features import integrated_loudness_lufs
from audiomanip.params import Preset

SR = 48000


def level_db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A working folder (cwd) holding a stereo 24-bit noise file and a 1 kHz sine (float)."""
    monkeypatch.chdir(tmp_path)
    noise = pink_noise(1.5, SR, rms=0.05, channels=2, seed=1)
    sf.write(tmp_path / "noise.wav", noise.T, SR, subtype="PCM_24")
    tone = sine(1000.0, 1.0, SR, amplitude=0.1, channels=1)
    sf.write(tmp_path / "tone.wav", tone.T, SR, subtype="FLOAT")
    return tmp_path


def eq_boost_preset(gain_db: float = 12.0, freq_hz: float = 1000.0) -> Preset:
    p = Preset.default()
    p.set("eq", "band3_type", "peak")
    p.set("eq", "band3_freq_hz", freq_hz)
    p.set("eq", "band3_gain_db", gain_db)
    p.set("eq", "band3_q", 1.0)
    return p


def save(preset: Preset, path: Path) -> Path:
    preset.save(path)
    return path


def one_folder(root: Path) -> Path:
    folders = [p for p in (root / "output").iterdir()]
    assert len(folders) == 1, folders
    return folders[0]


def test_apply_writes_exactly_the_layout_and_the_eq_gain(work):
    preset_path = save(eq_boost_preset(12.0), work / "boost 1k.yaml")
    res = invoke("apply", "tone.wav", "--preset-file", preset_path)
    assert res.exit_code == 0, res.output
    folder = one_folder(work)
    assert re.fullmatch(r"\d{8}_\d{6}_boost_1k", folder.name)
    assert sorted(p.name for p in folder.iterdir()) == [
        "boost_1k.wav",
        "boost_1k_preset.json",
        "metadata.txt",
    ]
    x, _ = sf.read(work / "tone.wav", dtype="float32")
    y, sr = sf.read(folder / "boost_1k.wav", dtype="float32")
    info = sf.info(str(folder / "boost_1k.wav"))
    assert (sr, info.channels, info.subtype) == (SR, 1, "FLOAT")
    # +12 dB peak at 1 kHz: the steady part of the sine is 12 dB louder
    steady = slice(SR // 4, 3 * SR // 4)
    assert level_db(y[steady]) - level_db(x[steady]) == pytest.approx(12.0, abs=0.1)
    # the preset JSON reloads to the same preset and carries the metadata
    doc = json.loads((folder / "boost_1k_preset.json").read_text())
    assert doc["schema_version"] == 1 and doc["source"] == "file" and "created" in doc
    assert Preset.from_json((folder / "boost_1k_preset.json").read_text()) == eq_boost_preset(12.0)
    meta = (folder / "metadata.txt").read_text()
    for key in (
        "input:",
        "sample rate:",
        "channels:",
        "device:",
        "time taken:",
        "loudness before:",
        "loudness after:",
    ):
        assert key in meta
    assert "written" in res.stdout and "band3" in res.stdout


def test_apply_keeps_format_rate_and_channels(work):
    preset_path = save(eq_boost_preset(-6.0, 3000.0), work / "cut.json")
    res = invoke("apply", "noise.wav", "--preset-file", preset_path)
    assert res.exit_code == 0, res.output
    out = one_folder(work) / "cut.wav"
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.subtype) == (SR, 2, "PCM_24")
    assert info.frames == sf.info(str(work / "noise.wav")).frames


def test_json_output_is_the_only_thing_on_stdout(work):
    preset_path = save(eq_boost_preset(3.0), work / "p.yaml")
    res = invoke("apply", "tone.wav", "--preset-file", preset_path, "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert Path(data["output"]).is_file()
    assert data["result"]["sample_rate"] == SR and data["result"]["channels"] == 1
    assert Preset.from_dict(data["preset"]) == eq_boost_preset(3.0)
    assert data["result"]["loudness_out_lufs"] - data["result"]["loudness_in_lufs"] == pytest.approx(
        3.0, abs=0.2
    )


def test_dry_run_writes_nothing(work):
    before = sorted(p.name for p in work.rglob("*"))
    preset_path = save(eq_boost_preset(), work / "p.yaml")
    res = invoke("apply", "tone.wav", "--preset-file", preset_path, "--dry-run")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in work.rglob("*")) == sorted(before + ["p.yaml"])
    assert "band3" in res.stdout and "dry run" in res.stdout
    res = invoke("apply", "tone.wav", "--preset-file", preset_path, "--dry-run", "--json")
    assert Preset.from_dict(json.loads(res.stdout)["preset"]) == eq_boost_preset()


def test_strength_zero_returns_the_input(work):
    p = eq_boost_preset(12.0)
    p.set("distortion", "drive_db", 20.0)
    p.set("reverb", "wet", 0.5)
    p.set("output", "gain_db", -6.0)
    preset_path = save(p, work / "heavy.yaml")
    res = invoke("apply", "tone.wav", "--preset-file", preset_path, "--strength", "0", "-o", "same.wav")
    assert res.exit_code == 0, res.output
    x, _ = sf.read(work / "tone.wav", dtype="float32")
    y, _ = sf.read(work / "same.wav", dtype="float32")
    assert y.shape == x.shape
    assert np.max(np.abs(y - x)) < 1e-4


def test_half_strength_halves_the_eq_gain(work):
    preset_path = save(eq_boost_preset(12.0), work / "p.yaml")
    res = invoke("apply", "tone.wav", "--preset-file", preset_path, "--strength", "0.5", "-o", "half.wav")
    assert res.exit_code == 0, res.output
    x, _ = sf.read(work / "tone.wav")
    y, _ = sf.read(work / "half.wav")
    steady = slice(SR // 4, 3 * SR // 4)
    assert level_db(y[steady]) - level_db(x[steady]) == pytest.approx(6.0, abs=0.1)


@pytest.mark.parametrize("gain_db", [-12.0, 9.0])
def test_match_loudness(work, gain_db):
    p = eq_boost_preset(gain_db, 2000.0)
    p.set("output", "gain_db", gain_db)
    preset_path = save(p, work / "p.yaml")
    res = invoke("apply", "noise.wav", "--preset-file", preset_path, "--match-loudness", "-o", "m.wav")
    assert res.exit_code == 0, res.output
    x, _ = sf.read(work / "noise.wav", dtype="float32")
    y, _ = sf.read(work / "m.wav", dtype="float32")
    assert abs(integrated_loudness_lufs(y.T, SR) - integrated_loudness_lufs(x.T, SR)) < 0.5
    # without matching the loudness differs by far more
    res = invoke("apply", "noise.wav", "--preset-file", preset_path, "-o", "n.wav")
    z, _ = sf.read(work / "n.wav", dtype="float32")
    assert abs(integrated_loudness_lufs(z.T, SR) - integrated_loudness_lufs(x.T, SR)) > 5.0


def test_audio_length_cuts_the_input(work):
    preset_path = save(eq_boost_preset(2.0), work / "p.yaml")
    res = invoke(
        "apply", "noise.wav", "--preset-file", preset_path, "--audio-length", "0.5", "-o", "short.wav"
    )
    assert res.exit_code == 0, res.output
    assert sf.info(str(work / "short.wav")).frames == SR // 2


def test_plot_writes_a_png(work):
    preset_path = save(eq_boost_preset(6.0), work / "p.yaml")
    res = invoke("apply", "noise.wav", "--preset-file", preset_path, "--plot")
    assert res.exit_code == 0, res.output
    png = one_folder(work) / "p.png"
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000


def test_output_path_exists_needs_overwrite(work):
    preset_path = save(eq_boost_preset(), work / "p.yaml")
    (work / "taken.wav").write_bytes(b"keep me")
    res = invoke("apply", "tone.wav", "--preset-file", preset_path, "-o", "taken.wav")
    assert res.exit_code == 5
    assert res.stderr.strip().count("\n") == 0 and "--overwrite" in res.stderr
    assert (work / "taken.wav").read_bytes() == b"keep me"
    res = invoke("apply", "tone.wav", "--preset-file", preset_path, "-o", "taken.wav", "--overwrite")
    assert res.exit_code == 0, res.output
    assert sf.info(str(work / "taken.wav")).frames == SR


def test_named_preset(work):
    from audiomanip.vocab.named_presets import load_named_presets

    name = sorted(load_named_presets())[0]
    res = invoke("apply", "noise.wav", "--preset", name, "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["source"] == "named" and data["label"] == name
    assert Path(data["output"]).name.startswith(name.replace("-", "_")[:10])


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["missing.wav", "--preset-file", "p.yaml"], 3, "not found"),
        (["junk.wav", "--preset-file", "p.yaml"], 4, "junk.wav"),
        (["tone.wav", "--preset-file", "nope.yaml"], 6, "nope.yaml"),
        (["tone.wav", "--preset-file", "bad.yaml"], 6, "out of range"),
        (["tone.wav", "--preset", "no-such-preset-xyz"], 6, "unknown preset"),
        (["tone.wav", "warm", "--preset", "telephone", "--preset-file", "p.yaml"], 2, "only one"),
        (["tone.wav"], 2, "PROMPT"),
        (["tone.wav", "--preset-file", "p.yaml", "--strength", "1.5"], 2, "strength"),
        (["tone.wav", "--preset-file", "p.yaml", "-o", "no/such/dir/x.wav"], 5, "does not exist"),
    ],
)
def test_user_errors_are_one_line(work, args, code, words):
    save(eq_boost_preset(), work / "p.yaml")
    (work / "bad.yaml").write_text("eq:\n  band1_gain_db: 99\n")
    (work / "junk.wav").write_bytes(b"RIFF not really audio" * 10)
    res = invoke("apply", *args)
    assert res.exit_code == code, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert words in lines[0]
    assert "Traceback" not in res.output
    assert not (work / "output").exists()


def test_clamp_turns_out_of_range_into_a_warning(work):
    (work / "bad.yaml").write_text(
        "eq:\n  band3_type: peak\n  band3_freq_hz: 1000\n  band3_gain_db: 99\n  band3_q: 1\n"
    )
    res = invoke("apply", "tone.wav", "--preset-file", "bad.yaml", "--clamp", "-o", "c.wav")
    assert res.exit_code == 0, res.output
    assert "clamped to 20" in res.stderr
    x, _ = sf.read(work / "tone.wav")
    y, _ = sf.read(work / "c.wav")
    steady = slice(SR // 4, 3 * SR // 4)
    # band3 at +20 dB (clamped), but the other bands are at their defaults (0 dB)
    assert level_db(y[steady]) - level_db(x[steady]) > 15.0


def test_debug_shows_the_traceback(work):
    res = runner.invoke(app, ["--debug", "apply", "missing.wav", "--preset-file", "p.yaml"])
    assert res.exit_code == 3
    assert "Traceback" in res.stderr


def test_preset_path_does_not_import_the_text_model_nor_scipy(work):
    """The preset paths (EQ, limiter and BS.1770 loudness included) import no text model and
    no scipy (``scipy.signal`` alone costs over a second of start-up); resampling may."""
    save(eq_boost_preset(), work / "p.yaml")
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from audiomanip.commands.app import app\n"
        "r = CliRunner().invoke(app, ['apply', 'tone.wav', '--preset-file', 'p.yaml', '-o', 'o.wav'])\n"
        "assert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(app, ['apply', 'tone.wav', '--preset', 'telephone', '-o', 'n.wav',\n"
        "                             '--match-loudness'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('sentence_transformers', 'transformers', 'matplotlib', 'scipy')\n"
        "         if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (work / "o.wav").is_file()


def test_help_shows_an_example():
    res = runner.invoke(app, ["apply", "--help"])
    assert res.exit_code == 0
    assert "audiomanip apply vocals.wav" in res.output


# ------------------------------------------------------------------ the prompt path (a real model)


def test_prompt_path_with_a_model(work, tiny_model):
    prompt = "pitch down 3 semitones, warm and dark"
    res = invoke("apply", "tone.wav", prompt, "--checkpoint-path", tiny_model, "--device", "cpu", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["source"] == "prompt" and data["prompt"] == prompt
    assert data["model"]["name"] == "tiny"
    folder = Path(data["folder"])
    assert re.fullmatch(r"\d{8}_\d{6}_pitch_down_3_semitones_warm_and_dark", folder.name)
    doc = json.loads((folder / "pitch_down_3_semitones_warm_and_dark_preset.json").read_text())
    assert doc["prompt"] == prompt and doc["model"]["name"] == "tiny"
    preset = Preset.from_json(json.dumps(doc))
    # explicit numbers in the prompt come out exactly, whatever the network's weights
    assert preset.enabled["pitch"] and preset["pitch"]["semitones"] == -3.0
    assert doc["explicit"]
    # the same prompt gives the same preset (dry run, nothing written)
    res = invoke("apply", "tone.wav", prompt, "--checkpoint-path", tiny_model, "--dry-run", "--json")
    assert res.exit_code == 0, res.output
    assert Preset.from_dict(json.loads(res.stdout)["preset"]) == preset


def test_missing_checkpoint_is_one_line(work, tmp_path):
    res = invoke("apply", "tone.wav", "warm", "--checkpoint-path", tmp_path / "nothing_here")
    assert res.exit_code == 7, res.output
    assert len(res.stderr.strip().splitlines()) == 1
