"""`audiomanip export-preset` and `audiomanip presets`: round trips, ffmpeg chains measured, IRs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audiomanip.commands.app import app
from cli_helpers import invoke, runner

from audiomanip.training.sources import impulse, pink_noise, sine
from audiomanip.features import estimate_f0_hz
from audiomanip.params import Preset

SR = 48000
needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (apt-get install ffmpeg)"
)


def same(a: Preset, b: Preset) -> bool:
    """Equal as written to a file (Preset.to_dict keeps 6 decimals)."""
    return a.to_dict() == b.to_dict()


def rich_preset() -> Preset:
    """Every effect on, values off their defaults."""
    p = Preset.default()
    for band, (kind, f, g, q) in enumerate(
        [
            ("high_pass", 40.0, 0.0, 0.707),
            ("peak", 250.0, 3.5, 1.2),
            ("peak", 1200.0, -4.0, 2.0),
            ("low_shelf", 3300.0, 2.0, 0.9),
            ("high_shelf", 9000.0, 5.0, 0.8),
        ],
        start=1,
    ):
        p.set("eq", f"band{band}_type", kind)
        p.set("eq", f"band{band}_freq_hz", f)
        p.set("eq", f"band{band}_gain_db", g)
        p.set("eq", f"band{band}_q", q)
    p.set("pitch", "semitones", -2.5)
    p.set("distortion", "drive_db", 12.0).set("distortion", "color", 0.3)
    p.set("compressor", "threshold_db", -18.0).set("compressor", "ratio", 3.0)
    p.set("reverb", "room_size", 0.42).set("reverb", "wet", 0.33)
    p.set("output", "gain_db", -1.5)
    p.name = "everything"
    return p


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def export(preset: Preset, work: Path, fmt: str, out: str, *extra):
    src = work / "src.yaml"
    preset.save(src)
    res = invoke("export-preset", "--preset-file", src, "-f", fmt, "-o", out, *extra)
    assert res.exit_code == 0, res.output
    return work / out


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_round_trip(work, fmt):
    path = export(rich_preset(), work, fmt, f"p.{fmt}")
    assert Preset.load(path) == rich_preset()
    assert Preset.load(path, strict=True).notes == []  # complete: nothing defaulted or unknown


@pytest.mark.parametrize("name, reader", [("p.json", json.loads), ("p.yaml", None), ("p.wav", sf.info)])
def test_format_follows_the_output_suffix_without_f(work, name, reader):
    rich_preset().save(work / "src.yaml")
    res = invoke("export-preset", "--preset-file", "src.yaml", "-o", name)
    assert res.exit_code == 0, res.output
    if name.endswith(".wav"):
        info = sf.info(work / name)
        assert (info.channels, info.samplerate) == (2, 48000)  # the reverb IR
    else:
        if reader is not None:
            reader((work / name).read_text())  # really JSON
        assert Preset.load(work / name) == rich_preset()


def test_stdout_export(work):
    rich_preset().save(work / "src.json")
    res = invoke("export-preset", "--preset-file", "src.json", "-f", "json", "-o", "-")
    assert res.exit_code == 0, res.output
    assert Preset.from_json(res.stdout) == rich_preset()


def test_ir_export_is_the_renderers_ir(work):
    from audiomanip.effects.reverb import reverb_ir_numpy

    path = export(rich_preset(), work, "ir", "room.wav", "--sample-rate", "44100")
    ir, sr = sf.read(path, dtype="float32", always_2d=True)
    info = sf.info(str(path))
    assert (sr, info.channels, info.subtype) == (44100, 2, "FLOAT")
    expected = reverb_ir_numpy(rich_preset()["reverb"], 44100)
    assert ir.T.shape == expected.shape
    assert np.max(np.abs(ir.T - expected)) < 1e-6


def run_chain(chain_file: Path, x: np.ndarray, work: Path, name: str) -> np.ndarray:
    from audiomanip.export import run_ffmpeg_chain

    src = work / f"{name}_in.wav"
    sf.write(src, x.T, SR, subtype="FLOAT")
    run_ffmpeg_chain(chain_file.read_text().strip(), src, work / f"{name}_out.wav")
    y, sr = sf.read(work / f"{name}_out.wav", dtype="float32", always_2d=True)
    assert sr == SR
    return y.T


def eq_only() -> Preset:
    p = rich_preset()
    for e in ("pitch", "distortion", "compressor", "reverb", "output"):
        p.enabled[e] = False
    return p


@needs_ffmpeg
def test_ffmpeg_eq_gain_at_each_frequency(work):
    from audiomanip.plot import eq_curve_db

    chain = export(eq_only(), work, "ffmpeg", "eq.txt")
    assert not (work / "eq_ir.wav").exists()  # no reverb, no IR
    freqs = np.array([30.0, 250.0, 1200.0, 3300.0, 12000.0])
    x = np.concatenate([sine(f, 1.0, SR, amplitude=0.1) for f in freqs])  # one sine per channel
    y = run_chain(chain, x, work, "eq")
    steady = slice(SR // 2, SR)
    measured = 20 * np.log10(
        np.sqrt(np.mean(y[:, steady] ** 2, axis=1)) / np.sqrt(np.mean(x[:, steady] ** 2, axis=1))
    )
    expected = eq_curve_db(eq_only(), SR, freqs)
    assert np.max(np.abs(measured - expected)) < 0.05, (measured, expected)
    assert np.ptp(expected) > 8.0  # the bands really do something


@needs_ffmpeg
def test_ffmpeg_chain_matches_the_renderer(work):
    """Distortion, reverb and output gain: ffmpeg's result equals ours sample by sample."""
    from audiomanip.rendering import render

    p = Preset.default()
    p.set("distortion", "drive_db", 18.0).set("distortion", "color", 0.6)
    p.set("reverb", "room_size", 0.3).set("reverb", "wet", 0.4).set("reverb", "pre_delay_ms", 20.0)
    p.set("output", "gain_db", -3.0)
    chain = export(p, work, "ffmpeg", "chain.txt")
    assert (work / "chain_ir.wav").is_file()
    x = pink_noise(0.5, SR, rms=0.1, channels=2, seed=3)
    y = run_chain(chain, x, work, "mix")
    ours = render(p, x, SR, peak_safety=False)
    n = min(y.shape[1], ours.shape[1])
    assert abs(y.shape[1] - ours.shape[1]) <= 1  # the reverb tail is kept
    assert np.max(np.abs(y[:, :n] - ours[:, :n])) < 1e-4


@needs_ffmpeg
@pytest.mark.parametrize("channels, rate", [(1, 44100), (3, 32000)])
def test_ffmpeg_reverb_for_other_channel_counts_and_rates(work, channels, rate):
    """Channel c uses IR channel c % 2, at the audio's own rate, exactly as the renderer does."""
    from audiomanip.export import run_ffmpeg_chain
    from audiomanip.rendering import render

    p = Preset.default()
    p.set("reverb", "room_size", 0.35).set("reverb", "wet", 0.5).set("reverb", "diffusion", 0.3)
    chain = export(p, work, "ffmpeg", "rev.txt", "--channels", str(channels), "--sample-rate", str(rate))
    x = pink_noise(0.3, rate, rms=0.1, channels=channels, seed=5)
    sf.write(work / "in.wav", x.T, rate, subtype="FLOAT")
    run_ffmpeg_chain(chain.read_text().strip(), work / "in.wav", work / "out.wav")
    y, sr = sf.read(work / "out.wav", dtype="float32", always_2d=True)
    ours = render(p, x, rate, peak_safety=False)
    n = min(y.shape[0], ours.shape[1])
    assert sr == rate and y.shape[1] == channels
    assert np.max(np.abs(y.T[:, :n] - ours[:, :n])) < 1e-4


@needs_ffmpeg
def test_ffmpeg_reverb_impulse_response(work):
    from audiomanip.effects.reverb import reverb_ir_numpy

    p = Preset.default()
    p.set("reverb", "room_size", 0.5).set("reverb", "wet", 0.25)
    chain = export(p, work, "ffmpeg", "rev.txt")
    y = run_chain(chain, impulse(0.2, SR, at_s=0.01, channels=2), work, "imp")
    ir = reverb_ir_numpy(p["reverb"], SR)
    start = int(0.01 * SR)
    expected = 0.25 * ir
    expected[:, 0] += 0.75
    assert np.max(np.abs(y[:, start : start + ir.shape[1]] - expected[:, : y.shape[1] - start])) < 1e-4


@needs_ffmpeg
def test_ffmpeg_compressor_static_gain(work):
    p = Preset.default()
    p.set("compressor", "threshold_db", -24.0).set("compressor", "ratio", 4.0)
    p.set("compressor", "attack_ms", 1.0).set("compressor", "release_ms", 200.0)
    p.set("compressor", "makeup_db", 3.0)
    chain = export(p, work, "ffmpeg", "comp.txt")
    y = run_chain(chain, sine(1000.0, 1.0, SR, amplitude=0.5), work, "comp")
    peak_db = 20 * np.log10(np.max(np.abs(y[:, SR // 2 :])))
    expected = -24.0 + (20 * np.log10(0.5) + 24.0) / 4.0 + 3.0  # hard knee, peak detection
    assert peak_db == pytest.approx(expected, abs=0.5)


@needs_ffmpeg
@pytest.mark.parametrize("method", ["rubberband", "asetrate"])
def test_ffmpeg_pitch(work, method):
    from audiomanip.export import ffmpeg_filter_chain

    if method == "rubberband" and "rubberband" not in _ffmpeg_filters():
        pytest.skip("this ffmpeg is built without librubberband")
    p = Preset.default()
    p.set("pitch", "semitones", 5.0)
    chain = export(p, work, "ffmpeg", "pitch.txt", "--pitch-method", method, "--sample-rate", str(SR))
    assert chain.read_text().strip() == ffmpeg_filter_chain(p, pitch_method=method, sample_rate=SR)
    y = run_chain(chain, sine(440.0, 1.0, SR, amplitude=0.5), work, "pitch")
    f0 = estimate_f0_hz(y[:, SR // 4 : 3 * SR // 4], SR)
    assert f0 == pytest.approx(440.0 * 2 ** (5 / 12), rel=0.01)


def _ffmpeg_filters() -> str:
    import subprocess

    return subprocess.run(["ffmpeg", "-hide_banner", "-filters"], capture_output=True, text=True).stdout


def test_ffmpeg_chain_of_a_bypass_preset_is_anull():
    from audiomanip.export import ffmpeg_filter_chain

    assert ffmpeg_filter_chain(Preset.default().with_strength(0.0)) == "anull"


def test_export_plot(work):
    export(eq_only(), work, "json", "p.json", "--plot")
    assert (work / "p.png").read_bytes().startswith(b"\x89PNG")


def test_export_errors(work):
    rich_preset().save(work / "src.yaml")
    (work / "taken.yaml").write_text("keep")
    res = invoke("export-preset", "--preset-file", "src.yaml", "-o", "taken.yaml")
    assert res.exit_code == 5 and len(res.stderr.strip().splitlines()) == 1
    assert (work / "taken.yaml").read_text() == "keep"
    res = invoke("export-preset", "--preset-file", "src.yaml", "-f", "mp3")
    assert res.exit_code == 2 and "--format" in res.stderr
    res = invoke("export-preset", "--preset-file", "src.yaml", "-f", "ir", "-o", "-")
    assert res.exit_code == 2


def test_presets_list_and_show(work):
    from audiomanip.vocab.named_presets import load_named_presets

    named = load_named_presets()
    res = invoke("presets", "--json")
    assert res.exit_code == 0, res.output
    listed = json.loads(res.stdout)
    assert sorted(item["name"] for item in listed) == sorted(named)
    res = runner.invoke(app, ["presets"], terminal_width=200)
    assert res.exit_code == 0
    name = sorted(named)[0]
    assert name in res.stdout
    res = invoke("presets", "show", name, "--format", "yaml")
    assert res.exit_code == 0, res.output
    assert same(Preset.from_yaml(res.stdout), named[name].preset)
    res = invoke("presets", "show", "no-such-preset-xyz")
    assert res.exit_code == 6 and "unknown preset" in res.stderr


def test_export_named_preset_round_trip(work):
    from audiomanip.vocab.named_presets import load_named_presets

    name, named = sorted(load_named_presets().items())[0]
    res = invoke("export-preset", "--preset", name, "-f", "yaml", "-o", "named.yaml")
    assert res.exit_code == 0, res.output
    assert same(Preset.load(work / "named.yaml"), named.preset)


def test_help_shows_examples():
    res = runner.invoke(app, ["export-preset", "--help"])
    assert res.exit_code == 0 and "audiomanip export-preset" in res.output
