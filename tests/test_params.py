"""The schema and the Preset type: validation, round trips, normalised space."""

import json
import math
import random

import pytest

from audiomanip import params
from audiomanip.params import EFFECT_ORDER, SCHEMA, Preset, PresetError


def random_preset(seed: int) -> Preset:
    rng = random.Random(seed)
    norm = {}
    for e in SCHEMA:
        norm[e.name] = {
            "enabled": float(rng.random() > 0.5),
            "continuous": [rng.random() for _ in e.continuous()],
            "choices": [rng.randrange(len(p.choices)) for _, p, _ in e.choice()],
        }
    return Preset.from_normalized(norm)


def test_schema_has_the_design_table():
    assert EFFECT_ORDER == ("pitch", "eq", "distortion", "compressor", "reverb", "output")
    eq = params.effect("eq")
    assert eq.bands == 5
    assert params.EQ_BAND_TYPES == ("low_shelf", "peak", "high_shelf", "low_pass", "high_pass")
    assert len(eq.param_names) == 20
    assert set(params.effect("reverb").param_names) == {"room_size", "pre_delay_ms", "diffusion", "damping", "wet"}
    assert set(params.effect("compressor").param_names) == {
        "threshold_db", "ratio", "attack_ms", "release_ms", "makeup_db"}
    assert params.effect("pitch").param("semitones").high == 12
    for e in SCHEMA:
        for _, p, _ in e.flat_params():
            if p.scale == "log":
                assert p.low > 0
            if not p.is_choice:
                d = e.default_of(p, 0)
                assert p.low <= d <= p.high


def test_default_preset_is_neutral():
    p = Preset.default()
    assert [n for n, on in p.enabled.items() if on] == ["output"]
    assert p["output"]["gain_db"] == 0.0
    assert p.describe() == "output(gain_db=0)"


@pytest.mark.parametrize("seed", range(5))
def test_json_and_yaml_round_trip(seed):
    p = random_preset(seed)
    assert Preset.from_json(p.to_json()) == Preset.from_dict(p.to_dict())
    q = Preset.from_yaml(p.to_yaml())
    assert q == p  # identical, not just close
    assert Preset.from_json(p.to_json()) == p
    # a round trip of the written form is exact
    assert Preset.from_json(q.to_json()).to_dict() == q.to_dict()


@pytest.mark.parametrize("seed", range(5))
def test_normalised_round_trip(seed):
    p = random_preset(seed)
    q = Preset.from_normalized(p.to_normalized())
    assert q.enabled == p.enabled
    for e in SCHEMA:
        for name, prm, _ in e.flat_params():
            a, b = p[e.name][name], q[e.name][name]
            if prm.is_choice:
                assert a == b
            else:
                assert math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-9)  # 6 significant digits


def test_log_scale_midpoint_is_geometric_mean():
    f = params.effect("eq").param("band1_freq_hz")
    assert math.isclose(f.denormalize(0.5), math.sqrt(20 * 20000), rel_tol=1e-6)
    assert f.normalize(20.0) == 0.0 and math.isclose(f.normalize(20000.0), 1.0)


def test_out_of_range_names_parameter_value_and_range():
    d = Preset.default().to_dict()
    d["reverb"]["wet"] = 1.5
    with pytest.raises(PresetError, match=r"reverb\.wet = 1\.5 is out of range 0 … 1"):
        Preset.from_dict(d)
    p = Preset.from_dict(d, clamp=True)
    assert p["reverb"]["wet"] == 1.0
    assert any("clamped" in n for n in p.notes)


def test_bad_types_and_choices():
    d = Preset.default().to_dict()
    d["eq"]["band2_type"] = "notch"
    with pytest.raises(PresetError, match="band2_type"):
        Preset.from_dict(d)
    d = Preset.default().to_dict()
    d["pitch"]["semitones"] = "three"
    with pytest.raises(PresetError, match="must be a number"):
        Preset.from_dict(d)
    d = Preset.default().to_dict()
    d["pitch"]["semitones"] = float("nan")
    with pytest.raises(PresetError, match="finite"):
        Preset.from_dict(d)


def test_missing_and_unknown_keys_are_reported():
    p = Preset.from_dict({"schema_version": 1, "reverb": {"wet": 0.4, "shimmer": 2}})
    assert p.enabled["reverb"] and p["reverb"]["wet"] == 0.4
    assert p["reverb"]["room_size"] == 0.5  # default filled
    assert any("shimmer" in n for n in p.notes)
    assert any("room_size missing" in n for n in p.notes)
    with pytest.raises(PresetError, match="shimmer"):
        Preset.from_dict({"reverb": {"wet": 0.4, "shimmer": 2}}, strict=True)


def test_wrong_schema_version_says_which_are_supported():
    with pytest.raises(PresetError, match=r"unsupported schema_version 99.*version\(s\) 1"):
        Preset.from_dict({"schema_version": 99, "reverb": {}})


def test_json_that_is_not_a_preset():
    with pytest.raises(PresetError, match="not an audiomanip preset"):
        Preset.from_json(json.dumps({"hello": "world"}))
    with pytest.raises(PresetError, match="mapping"):
        Preset.from_json("[1, 2, 3]")
    with pytest.raises(PresetError, match="not valid JSON"):
        Preset.from_json("{")


def test_yaml_object_tags_are_rejected(tmp_path):
    marker = tmp_path / "pwned"
    evil = f"!!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(PresetError, match="YAML"):
        Preset.from_yaml(evil)
    assert not marker.exists()


def test_apply_output_wrapper_is_read_back():
    p = random_preset(3)
    wrapped = json.dumps({"prompt": "x", "schema_version": 1, "preset": p.to_dict()})
    assert Preset.from_json(wrapped).to_dict() == Preset.from_dict(p.to_dict()).to_dict()


def test_strength_scales_towards_neutral():
    p = Preset.default()
    p.set("eq", "band3_gain_db", 10.0).set("pitch", "semitones", -6.0).set("reverb", "wet", 0.8)
    half = p.with_strength(0.5)
    assert math.isclose(half["eq"]["band3_gain_db"], 5.0)
    assert math.isclose(half["pitch"]["semitones"], -3.0)
    assert math.isclose(half["reverb"]["wet"], 0.4)
    assert half["reverb"]["room_size"] == p["reverb"]["room_size"]  # no neutral: unchanged
    assert not any(p.with_strength(0.0).enabled.values())
    assert p.with_strength(1.0).to_dict() == p.to_dict()
    with pytest.raises(PresetError):
        p.with_strength(1.5)


def test_load_and_save_files(tmp_path):
    p = random_preset(7)
    for suffix in (".json", ".yaml", ".yml"):
        f = tmp_path / f"p{suffix}"
        p.save(f)
        assert Preset.load(f).to_dict() == Preset.from_dict(p.to_dict()).to_dict()
    with pytest.raises(PresetError, match="not found"):
        Preset.load(tmp_path / "missing.yaml")
    with pytest.raises(PresetError, match="directory"):
        Preset.load(tmp_path)
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(PresetError):
        Preset.load(tmp_path / "bin.yaml")


def test_params_imports_nothing_of_ours():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(params))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert not (node.module or "").startswith("audiomanip")
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("audiomanip") for a in node.names)


def test_eq_bands_are_the_presets_eq_band_by_band():
    p = random_preset(3)
    bands = params.eq_bands(p["eq"])
    assert len(bands) == params.effect("eq").bands
    for i, band in enumerate(bands, start=1):
        assert band.type == p["eq"][f"band{i}_type"] and band.type in params.EQ_BAND_TYPES
        assert (band.freq_hz, band.gain_db, band.q) == tuple(
            float(p["eq"][f"band{i}_{n}"]) for n in ("freq_hz", "gain_db", "q"))
