"""Editing a preset with words (issue 15, item 3), measured on real renders.

Tail energy: a 20 ms noise burst rendered through the chain; the energy after the dry burst
(from 30 ms on) is the reverb tail. Brightness: the spectral centroid of rendered pink noise.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from audiomanip.vocab.named_presets import get_named_preset
from audiomanip.features import spectral_centroid_hz
from audiomanip.params import Preset
from audiomanip.preset_edit import edit_factor, edit_preset
from audiomanip.rendering import render
from cli_helpers import assert_user_error, invoke

SR = 16000


def _burst() -> np.ndarray:
    x = np.zeros(SR // 2)
    x[: int(0.02 * SR)] = np.random.default_rng(1).standard_normal(int(0.02 * SR)) * 0.3
    return x


def tail_energy(preset: Preset) -> float:
    """Energy of the rendered burst from 30 ms on (the dry burst ends at 20 ms)."""
    y = render(preset, _burst(), SR, peak_safety=False)
    return float(np.sum(y[:, int(0.03 * SR):] ** 2))


def _pink(seconds: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    spec = np.fft.rfft(rng.standard_normal(int(seconds * SR)))
    f = np.fft.rfftfreq(int(seconds * SR), 1 / SR)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    x = np.fft.irfft(spec)
    return 0.2 * x / np.max(np.abs(x))


def centroid(preset: Preset) -> float:
    return spectral_centroid_hz(render(preset, _pink(), SR, tail=False, peak_safety=False), SR)


@pytest.fixture(scope="module")
def cathedral() -> Preset:
    return get_named_preset("cathedral").preset.copy()


def test_less_reverb_lowers_the_measured_tail(cathedral):
    base = tail_energy(cathedral)
    bit_less = tail_energy(edit_preset(cathedral, "a bit less reverb").preset)
    less = tail_energy(edit_preset(cathedral, "less reverb").preset)
    much_less = tail_energy(edit_preset(cathedral, "much less reverb").preset)
    assert base > bit_less > less > much_less > 0.0
    assert less < 0.5 * base and much_less < 0.2 * base  # wet 0.5 -> 0.32 (-3.9 dB), -> 0.2 (-8 dB)
    twice = edit_preset(edit_preset(cathedral, "much less reverb").preset, "much less reverb")
    assert not twice.preset.enabled["reverb"] and tail_energy(twice.preset) < 1e-6 * base
    assert "reverb is now off" in twice.notes[0]
    assert tail_energy(edit_preset(cathedral, "more reverb").preset) > base


@pytest.mark.parametrize("name", ["cathedral", "telephone"])  # a shelf, and a low-pass whose cut-off moves
def test_much_brighter_raises_the_centroid_more_than_a_bit_brighter(name):
    base = get_named_preset(name).preset
    c = {w: centroid(edit_preset(base, w).preset) for w in ("a bit brighter", "brighter", "much brighter")}
    c0 = centroid(base)
    assert c0 < c["a bit brighter"] < c["brighter"] < c["much brighter"], (c0, c)
    assert centroid(edit_preset(base, "darker").preset) < c0


def test_intensity_words_come_from_the_corpus():
    assert edit_factor("a bit") < edit_factor("") < edit_factor("much")
    assert edit_factor("much less") < edit_factor("less") < edit_factor("a bit less") < 0
    assert edit_factor("a bit more") == edit_factor("a bit") and edit_factor("no") == -1.0
    assert edit_factor("sideways") is None


def test_an_edit_of_an_edit_composes(cathedral):
    chained = edit_preset(edit_preset(cathedral, "brighter").preset, "a bit more reverb").preset
    together = edit_preset(cathedral, "brighter, a bit more reverb").preset
    swapped = edit_preset(edit_preset(cathedral, "a bit more reverb").preset, "brighter").preset
    assert chained == together == swapped
    # moves add in normalised space: two "a bit brighter" edits move the gains twice as far
    # (the flat presence band takes the word's frequency and Q on the first move)
    one = edit_preset(cathedral, "a bit brighter").preset
    two = edit_preset(one, "a bit brighter").preset
    gains = [[p.values["eq"][f"band{b}_gain_db"] for b in range(1, 6)] for p in (cathedral, one, two)]
    assert np.allclose(np.subtract(gains[2], gains[1]), np.subtract(gains[1], gains[0]), atol=1e-4)
    assert two.values["eq"]["band5_gain_db"] - cathedral.values["eq"]["band5_gain_db"] == pytest.approx(2 * 0.55 * 5)
    assert centroid(two) > centroid(one)
    # and both moves render: brighter than the reverb move alone, a longer tail than the bright one
    reverb_only = edit_preset(cathedral, "a bit more reverb").preset
    bright_only = edit_preset(cathedral, "brighter").preset
    assert centroid(chained) > centroid(reverb_only) and tail_energy(chained) > tail_energy(bright_only)


def test_explicit_values_override_exactly(cathedral):
    r = edit_preset(cathedral, "much more reverb, reverb 30% wet, brighter")
    assert r.preset.values["reverb"]["wet"] == 0.3 and "reverb.wet = 0.3" in r.explicit
    assert r.preset.values["eq"]["band5_gain_db"] > cathedral.values["eq"]["band5_gain_db"]
    off = edit_preset(cathedral, "much more reverb, no reverb")
    assert not off.preset.enabled["reverb"]


def test_unsatisfiable_and_unknown_requests_give_one_line_notes(cathedral):
    r = edit_preset(cathedral, "less distortion, sparklier")
    assert r.preset == cathedral
    assert len(r.notes) == 2 and all("\n" not in n for n in r.notes)
    assert "no distortion to reduce" in r.notes[0] and "'sparklier'" in r.notes[1] and "sparkly" in r.notes[1]
    dry = edit_preset(cathedral, "dry").preset
    assert "no reverb to reduce" in edit_preset(dry, "less reverb").notes[0]
    assert "already on" in edit_preset(cathedral, "add reverb, more distortion, un-dry").notes[0]


def test_edit_input_preset_is_not_modified(cathedral):
    before = cathedral.to_dict()
    edit_preset(cathedral, "much less reverb, much brighter, warmer")
    assert cathedral.to_dict() == before


def test_apply_and_export_record_the_chain_and_reload(tmp_path):
    import soundfile as sf

    wav = tmp_path / "in.wav"
    sf.write(wav, _burst().astype(np.float32), SR)
    res = invoke("apply", wav, "--preset", "cathedral", "a bit less reverb, less distortion",
                 "--output-dir", tmp_path / "out", "--json")
    assert res.exit_code == 0, res.output
    assert "no distortion to reduce" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    doc = json.loads(res.stdout)
    written = json.loads(open(doc["preset_file"]).read())
    assert written["edits"] == [{"prompt": "a bit less reverb, less distortion", "from": "preset cathedral"}]
    cathedral = get_named_preset("cathedral").preset
    assert Preset.load(doc["preset_file"]) == edit_preset(cathedral, "a bit less reverb").preset
    # the written file edits further; export-preset extends the chain
    out = tmp_path / "warmer.json"
    res = invoke("export-preset", "--preset-file", doc["preset_file"], "warmer", "-o", out)
    assert res.exit_code == 0, res.output
    chain = json.loads(out.read_text())["edits"]
    assert [e["prompt"] for e in chain] == ["a bit less reverb, less distortion", "warmer"]
    assert chain[1]["from"] == f"file {doc['preset_file']}"
    expected = edit_preset(edit_preset(cathedral, "a bit less reverb").preset, "warmer").preset
    assert Preset.load(out) == expected
    # YAML exports carry the chain too, and a third edit reads it back
    yml = tmp_path / "third.yaml"
    assert invoke("export-preset", "--preset-file", out, "much brighter", "-o", yml).exit_code == 0
    import yaml

    assert len(yaml.safe_load(yml.read_text())["edits"]) == 3
    assert tail_energy(Preset.load(yml)) < tail_energy(cathedral)


def test_preset_and_preset_file_together_are_refused(tmp_path):
    res = invoke("export-preset", "--preset", "cathedral", "--preset-file", tmp_path / "x.json", "-o", "-")
    assert_user_error(res, 2, "--preset", "--preset-file")


def test_editing_never_loads_the_model_nor_torch():
    code = ("import sys; from audiomanip.preset_edit import edit_preset; "
            "from audiomanip.preset_source import resolve; "
            "resolve('brighter', 'cathedral', None); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
