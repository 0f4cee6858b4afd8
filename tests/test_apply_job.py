"""The apply job as a library (audiomanip.apply_job): preset source, rendering, output layout,
what is written beside the audio, and the rollback of a failed run, measured on sines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiomanip.apply_job import ApplyJob, ApplyRequest, apply_file
from audiomanip.errors import InputNotFoundError, PromptError, UsageError
from audiomanip.params import Preset
from audiomanip.preset_source import check_one_source
from audiomanip.training.sources import sine

SR = 44100


def _level_db(x: np.ndarray, freq_hz: float, sample_rate: int) -> float:
    """Level (dB) of the ``freq_hz`` component of ``x`` ([frames] or [frames, channels], channels
    averaged), from a Hann-windowed spectrum of its steady middle (edges and filter onsets
    left out)."""
    x = np.asarray(x, dtype=np.float64)
    x = x.mean(axis=1) if x.ndim == 2 else x
    mid = x[len(x) // 4 : 3 * len(x) // 4]
    spectrum = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
    k = int(round(freq_hz * len(mid) / sample_rate))
    return 20.0 * np.log10(spectrum[k - 2 : k + 3].max() + 1e-20)


def _gain_db(in_path: Path, out_path: Path, freq_hz: float) -> float:
    x, sr_in = sf.read(in_path)
    y, sr_out = sf.read(out_path)
    assert sr_in == sr_out
    return _level_db(y, freq_hz, sr_out) - _level_db(x, freq_hz, sr_in)


@pytest.fixture
def work(tmp_path, monkeypatch):
    """cwd holding three.wav (100 Hz + 1.5 kHz + 8 kHz, 1 s, 44.1 kHz, stereo), tone.wav (1 kHz,
    mono) and boost.yaml (a +6 dB peak at 1 kHz, Q 1, nothing else)."""
    monkeypatch.chdir(tmp_path)
    three = sum(sine(f, 1.0, SR, amplitude=0.1, channels=2) for f in (100.0, 1500.0, 8000.0))
    sf.write(tmp_path / "three.wav", three.T, SR, subtype="PCM_24")
    sf.write(tmp_path / "tone.wav", sine(1000.0, 1.0, SR, amplitude=0.25).T, SR, subtype="PCM_24")
    p = Preset.default()
    p.set("eq", "band3_type", "peak").set("eq", "band3_freq_hz", 1000.0).set("eq", "band3_gain_db", 6.0)
    p.set("eq", "band3_q", 1.0)
    p.save(tmp_path / "boost.yaml")
    return tmp_path


def test_named_preset_job_band_limits_like_a_telephone(work):
    """--preset telephone (high-pass 300 Hz, low-pass 3.4 kHz): 100 Hz and 8 kHz fall far below
    1.5 kHz; the run folder holds the audio, its preset and metadata."""
    chosen, done = apply_file(ApplyRequest(in_path=Path("three.wav"), preset_name="telephone"))
    assert chosen.source.kind == "named" and chosen.device == "cpu" and chosen.device_notes == []
    audio = done.layout.audio
    assert done.layout.folder is not None and audio.parent == done.layout.folder
    assert audio.name == "telephone.wav" and done.layout.folder.parent == Path("output")
    mid = _gain_db(work / "three.wav", audio, 1500.0)
    assert _gain_db(work / "three.wav", audio, 100.0) < mid - 15.0
    assert _gain_db(work / "three.wav", audio, 8000.0) < mid - 15.0
    info = sf.info(audio)
    assert (info.samplerate, info.channels, info.subtype) == (SR, 2, "PCM_24")  # the input's format
    doc = json.loads(done.layout.preset_json.read_text())
    assert doc["source"] == "named" and doc["label"] == "telephone" and doc["input"] == "three.wav"
    assert Preset.load(done.layout.preset_json).to_dict() == chosen.preset.to_dict()
    meta = done.layout.metadata.read_text()
    assert "source:" in meta and "named: telephone" in meta and "device:             cpu" in meta
    assert done.process.duration_in_s == pytest.approx(1.0)


@pytest.mark.parametrize("strength, expected_db", [(1.0, 6.0), (0.5, 3.0), (0.0, 0.0)])
def test_preset_file_job_gain_at_the_peak_follows_strength(work, strength, expected_db):
    """A +6 dB peak at 1 kHz measured on a 1 kHz sine: +6 dB, +3 dB at strength 0.5, 0 dB at 0."""
    out = Path(f"boost_{strength}.wav")
    chosen, done = apply_file(
        ApplyRequest(
            in_path=Path("tone.wav"), preset_file=Path("boost.yaml"), output_path=out, strength=strength
        )
    )
    assert done.layout.folder is None and done.layout.preset_json is None and done.layout.metadata is None
    assert _gain_db(work / "tone.wav", work / out, 1000.0) == pytest.approx(expected_db, abs=0.2)
    assert [p.name for p in work.iterdir() if p.name.startswith("boost_")] == [out.name]
    assert not (work / "output").exists()


def test_edit_words_move_a_named_preset(work):
    """A prompt with --preset edits it: "brighter" on telephone keeps the band limits and is
    recorded as an edit."""
    job = ApplyJob(
        ApplyRequest(in_path=Path("three.wav"), prompt="much brighter", preset_name="telephone", dry_run=True)
    )
    job.check()
    chosen = job.choose_preset()
    assert chosen.source.kind == "edit" and chosen.source.edits[-1]["prompt"] == "much brighter"
    assert (
        chosen.preset.to_dict()
        != ApplyJob(ApplyRequest(in_path=Path("three.wav"), preset_name="telephone"))
        .choose_preset()
        .preset.to_dict()
    )
    assert not (work / "output").exists()  # nothing written before write()


@pytest.mark.parametrize("layout, step", [("folder", "metadata"), ("folder", "plot"), ("-o", "plot")])
def test_a_failure_after_the_audio_was_written_rolls_the_run_back(work, monkeypatch, layout, step):
    """A failure injected once the audio is on disk (writing metadata.txt, drawing the plot)
    removes every file of the run, its folder included; files already there stay."""
    pytest.importorskip("matplotlib")
    import audiomanip.outputs
    import audiomanip.plot

    fixture_audio = {"three.wav", "tone.wav"}
    rendered = []

    def boom(*a, **kw):
        rendered.extend(sf.info(p).frames for p in work.rglob("*.wav") if p.name not in fixture_audio)
        raise ZeroDivisionError("simulated failure after writing")

    target = {
        "metadata": (audiomanip.outputs, "write_text_atomic"),
        "plot": (audiomanip.plot, "plot_preset"),
    }[step]
    monkeypatch.setattr(*target, boom)
    (work / "keep.txt").write_text("not ours")
    before = sorted(p.relative_to(work).as_posix() for p in work.rglob("*"))
    request = ApplyRequest(
        in_path=Path("tone.wav"),
        preset_file=Path("boost.yaml"),
        plot=True,
        output_path=Path("take.wav") if layout == "-o" else None,
    )
    with pytest.raises(ZeroDivisionError):
        apply_file(request)
    assert rendered == [SR]  # the audio was written before the failure
    after = sorted(p.relative_to(work).as_posix() for p in work.rglob("*") if p.name != "output")
    assert after == before and (work / "keep.txt").read_text() == "not ours"


def test_checks_come_before_anything_is_loaded_or_written(work):
    for request, error in [
        (ApplyRequest(in_path=Path("tone.wav")), UsageError),  # no source
        (
            ApplyRequest(in_path=Path("tone.wav"), preset_name="telephone", preset_file=Path("boost.yaml")),
            UsageError,
        ),
        (ApplyRequest(in_path=Path("tone.wav"), prompt="  "), PromptError),
        (ApplyRequest(in_path=Path("tone.wav"), preset_name="telephone", strength=1.5), UsageError),
        (ApplyRequest(in_path=Path("missing.wav"), preset_name="telephone"), InputNotFoundError),
        (ApplyRequest(in_path=Path("."), preset_name="telephone"), InputNotFoundError),
    ]:
        with pytest.raises(error):
            ApplyJob(request).check()
    assert not (work / "output").exists()


def test_one_source_check_of_batch_names_every_source():
    with pytest.raises(
        UsageError, match=r"exactly one of --prompt, --prompts, --plan, --preset, --preset-file$"
    ):
        check_one_source(None, None, None, prompt_lists={"--prompts": None, "--plan": None})
    with pytest.raises(UsageError, match=r"\(got --prompt, --preset\)"):
        check_one_source("warm", "telephone", None, prompt_lists={"--prompts": None, "--plan": None})
    check_one_source(None, None, None, prompt_lists={"--prompts": None, "--plan": "plan.csv"})
    check_one_source("warm", "telephone", None)  # apply: a prompt edits the preset


def test_a_model_with_an_audio_view_hears_the_start_of_the_input(work):
    """A prompt alone with a model that has an audio view: the preset depends on what the input
    holds within ``audio_length_s``, and only on that."""
    torch = pytest.importorskip("torch")
    from audiomanip.checkpoint import save_checkpoint
    from audiomanip.model.network import ModelConfig, PresetNet
    from audiomanip.model.preset_model import model_config_dict

    torch.manual_seed(0)
    net = PresetNet(ModelConfig(d_model=32, n_heads=4, head_hidden=32, n_self_layers=1, audio_view="mel"))
    save_checkpoint(work / "mel_model", net.state_dict(), model_config_dict(net, "all-MiniLM-L6-v2"))
    start = sine(300.0, 0.5, SR, amplitude=0.3)
    rest = np.random.default_rng(0).uniform(-0.5, 0.5, size=(1, 3 * SR))
    sf.write(work / "noisy.wav", np.concatenate([start, rest], axis=1).T, SR)
    sf.write(work / "quiet.wav", np.concatenate([start, 0.0 * rest], axis=1).T, SR)

    def preset(name: str, seconds: float | None) -> dict:
        request = ApplyRequest(
            in_path=Path(name),
            prompt="warm tape",
            checkpoint_path=work / "mel_model",
            device="cpu",
            audio_length_s=seconds,
            dry_run=True,
        )
        chosen = ApplyJob(request).choose_preset()
        assert chosen.source.kind == "prompt" and chosen.device == "cpu"
        return chosen.preset.to_dict()

    assert preset("noisy.wav", 0.5) == preset("quiet.wav", 0.5)  # the same first half second
    assert preset("noisy.wav", None) != preset("quiet.wav", None)  # the model heard the rest


def test_export_job_writes_a_preset_file_that_reads_back_and_an_ir_that_decays(tmp_path, monkeypatch):
    """export-preset as a library: a YAML export reads back as the same preset (edits beside
    it); an IR export holds a decaying stereo tail at the requested rate; ``-o -`` is stdout."""
    from audiomanip.export_job import ExportJob, ExportRequest

    monkeypatch.chdir(tmp_path)
    job = ExportJob(
        ExportRequest(
            preset_name="cathedral", prompt="a bit less reverb", fmt=None, output=Path("chapel.yaml")
        )
    )
    job.check()
    chosen = job.choose_preset()
    assert job.fmt == "yaml" and chosen.source.kind == "edit"
    assert job.write(chosen, job.destination(chosen)) == [Path("chapel.yaml")]
    assert Preset.load(Path("chapel.yaml")).to_dict() == chosen.preset.to_dict()
    assert "edits" in Path("chapel.yaml").read_text()

    job = ExportJob(ExportRequest(preset_name="cathedral", output=Path("hall.wav"), sample_rate=16000))
    job.check()
    chosen = job.choose_preset()
    assert job.fmt == "ir" and job.write(chosen, job.destination(chosen)) == [Path("hall.wav")]
    ir, rate = sf.read("hall.wav")
    assert rate == 16000 and ir.shape[1] == 2 and sf.info("hall.wav").subtype == "FLOAT"
    tenth = len(ir) // 10
    head, tail = (float(np.sum(part**2)) for part in (ir[:tenth], ir[-tenth:]))
    assert 10 * np.log10(tail / head) < -40.0  # the tail has decayed

    assert ExportJob(ExportRequest(preset_name="telephone", output=Path("-"))).destination(chosen) is None
    with pytest.raises(UsageError, match="stdout"):
        ExportJob(ExportRequest(preset_name="telephone", fmt="ir", output=Path("-"))).destination(chosen)
