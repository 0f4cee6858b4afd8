"""The preset corpus: counts, validation of every entry, composition rules, and an
audio-engineering sanity table checked on the EQ's measured magnitude response."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audiomanip.vocab import descriptors as corpus, corpus_files, named_presets, recipes
from audiomanip.training import templates as prompt_templates
from audiomanip.vocab.descriptors import descriptor_preset, load_descriptors
from audiomanip.vocab.named_presets import get_named_preset
from audiomanip.vocab.recipes import Recipe, compose
from audiomanip.errors import PresetFileError
from audiomanip.params import EFFECTS, Preset, room_size_to_t60_s

SR = 48000.0


# ---------------------------------------------------------------------------- EQ measurement
def _biquad(band_type: str, f0: float, gain_db: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    """RBJ cookbook coefficients (independent of the project's DSP, as a reference)."""
    a_lin = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / SR
    cw, sw = math.cos(w0), math.sin(w0)
    alpha = sw / (2 * q)
    if band_type == "peak":
        b = [1 + alpha * a_lin, -2 * cw, 1 - alpha * a_lin]
        a = [1 + alpha / a_lin, -2 * cw, 1 - alpha / a_lin]
    elif band_type == "low_pass":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif band_type == "high_pass":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    else:
        s = 2 * math.sqrt(a_lin) * alpha
        if band_type == "low_shelf":
            b = [a_lin * ((a_lin + 1) - (a_lin - 1) * cw + s), 2 * a_lin * ((a_lin - 1) - (a_lin + 1) * cw),
                 a_lin * ((a_lin + 1) - (a_lin - 1) * cw - s)]
            a = [(a_lin + 1) + (a_lin - 1) * cw + s, -2 * ((a_lin - 1) + (a_lin + 1) * cw),
                 (a_lin + 1) + (a_lin - 1) * cw - s]
        else:
            b = [a_lin * ((a_lin + 1) + (a_lin - 1) * cw + s), -2 * a_lin * ((a_lin - 1) + (a_lin + 1) * cw),
                 a_lin * ((a_lin + 1) + (a_lin - 1) * cw - s)]
            a = [(a_lin + 1) - (a_lin - 1) * cw + s, 2 * ((a_lin - 1) - (a_lin + 1) * cw),
                 (a_lin + 1) - (a_lin - 1) * cw - s]
    return np.array(b), np.array(a)


def eq_gain_db(preset: Preset, freqs_hz) -> np.ndarray:
    """Magnitude response of the preset's EQ (0 dB where the EQ is off)."""
    freqs = np.atleast_1d(np.asarray(freqs_hz, dtype=float))
    total = np.zeros_like(freqs)
    if not preset.enabled["eq"]:
        return total
    z = np.exp(-1j * 2 * np.pi * freqs / SR)
    v = preset.values["eq"]
    for i in range(1, EFFECTS["eq"].bands + 1):
        b, a = _biquad(v[f"band{i}_type"], v[f"band{i}_freq_hz"], v[f"band{i}_gain_db"], v[f"band{i}_q"])
        h = (b[0] + b[1] * z + b[2] * z**2) / (a[0] + a[1] * z + a[2] * z**2)
        total += 20 * np.log10(np.abs(h))
    return total


def p(name: str, intensity: float = 1.0) -> Preset:
    return descriptor_preset(name, intensity)


# ---------------------------------------------------------------------------- counts and validation
def test_counts_and_families():
    counts = prompt_templates.validate_all()
    assert counts["descriptors"] >= 150
    assert counts["named"] >= 120
    for family in corpus.FAMILIES:
        assert counts[family] >= 15, family
    descriptors = load_descriptors()
    held = [d for d in descriptors.values() if d.heldout]
    assert len(held) >= 0.15 * len(descriptors)
    for family in corpus.FAMILIES:
        assert any(d.heldout for d in descriptors.values() if d.family == family), family
        assert any(not d.heldout for d in descriptors.values() if d.family == family), family


def test_every_descriptor_gives_a_valid_preset_at_any_intensity():
    for name, d in load_descriptors().items():
        for k in (0.25, 1.0, 2.0):
            preset = d.recipe.scaled(k).to_preset()
            again = Preset.from_dict(preset.to_dict(), strict=True)  # raises on any out-of-range value
            assert again.enabled == preset.enabled, name
        on = d.recipe.effects_on()
        assert on or d.recipe.enabled, name


def test_every_named_preset_is_valid_and_described():
    for name, n in named_presets.load_named_presets().items():
        assert n.description and "\n" not in n.description, name
        assert n.tags, name
        assert n.phrases, name
        Preset.from_dict(n.preset.to_dict(), strict=True)
        assert n.preset.name == name


def test_eq_band_convention_is_respected_by_every_recipe():
    conv = recipes.conventions()
    for name, d in load_descriptors().items():
        eq = d.recipe.values.get("eq", {})
        for role in conv.bands:
            t = eq.get(f"band{role.band}_type")
            if t is not None:
                assert t in role.types, (name, role.band, t)
                lo, hi = role.freq_range_hz
                assert lo <= eq[f"band{role.band}_freq_hz"] <= hi, name


def test_named_lookup_ignores_case_and_separators_and_returns_a_copy():
    a = get_named_preset("Warm Tape")
    assert get_named_preset("warm_tape").name == a.name == "warm-tape"
    a.preset.values["distortion"]["drive_db"] = 39.0
    assert get_named_preset("warm-tape").preset.values["distortion"]["drive_db"] != 39.0


def test_unknown_named_preset_lists_close_names():
    with pytest.raises(PresetFileError, match="warm-tape"):
        get_named_preset("warm tap")
    with pytest.raises(PresetFileError, match="unknown preset"):
        get_named_preset("zzzzqqq")


def test_yaml_is_found_inside_the_presets_package():
    import audiomanip.presets  # noqa: F401 - the package must import (editable installs)

    for f in ("descriptors.yaml", "modifiers.yaml", "named.yaml", "templates.yaml"):
        assert (corpus_files.presets_dir() / f).is_file()


# ---------------------------------------------------------------------------- loud failures
@pytest.fixture
def corpus_dir(tmp_path, monkeypatch):
    """A copy of the corpus in tmp_path that a test may break."""
    for f in corpus_files.presets_dir().glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(corpus_files, "presets_dir", lambda: tmp_path)
    caches = [corpus_files.load_yaml, recipes.conventions, corpus.load_descriptors, corpus.load_modifiers,
              named_presets.load_named_presets, prompt_templates.load_templates, prompt_templates.evaluation_prompts]
    for c in caches:
        c.cache_clear()
    yield tmp_path
    monkeypatch.undo()
    for c in caches:
        c.cache_clear()


def _break(folder, filename: str, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) by ``new`` in the corpus copy's ``filename``."""
    path = folder / filename
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("gain_db: 5, q: 0.7}}}\n  dark:", "gain_db: 35, q: 0.7}}}\n  dark:", r"descriptor 'bright'.*out of range"),
        ("recipe: {eq: {band2: {freq_hz: 500, gain_db: 5, q: 1.4}}}", "recipe: {eq: {band2: {frq_hz: 500}}}",
         r"descriptor 'boxy'.*unknown parameter eq.band2_frq_hz"),
        ("  honky:\n    family: tone", "  honky:\n    family: colour", r"descriptor 'honky'.*family"),
        ("adj: [nasal, nasally]", "adj: [nasal, honky]", r"'honky' is also a form"),
        ("recipe: {eq: {band3: {freq_hz: 900, gain_db: 6, q: 1.6}}}", "recipe: {eq: {band3: {type: high_pass}}}",
         r"descriptor 'honky'.*band3"),
        # band forms only where "cut ___" can invert the recipe
        ("    adj: [thin, thinner, bass-light]\n", "    adj: [thin, thinner, bass-light]\n    band: [the lowest lows]\n",
         r"descriptor 'thin'.*only EQ-only tone descriptors"),
        ("band: [the mids, the midrange, the middle]", "band: [mids, the midrange]", r"descriptor 'mid-forward'.*start with 'the'"),
    ],
)
def test_a_broken_descriptor_fails_naming_the_entry(corpus_dir, old, new, message):
    _break(corpus_dir, "descriptors.yaml", old, new)
    with pytest.raises(PresetFileError, match=message):
        corpus.load_descriptors()


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('text: "cut {band}", factor: -1.0,', 'text: "cut {band}", factor: -2.0,', r"'cut_band'.*\[-1.6, 1.6\]"),
        ('text: "cut {band}", factor: -1.0,', 'text: "cut {band} and {adj}", factor: -1.0,', r"'cut_band'.*exactly one \{band\}"),
        ('text: "cut {band}", factor: -1.0,', 'text: "cut {band}", negate: true,', r"'cut_band'.*not negate"),
        ('text: "cut {band}", factor: -1.0, weight: 0.3', 'text: "cut {band}", factor: -1.0, weight: 0',
         r"'cut_band'.*weight"),
        ('{id: bare_adj, text: "{adj}"}', '{id: bare_adj, text: "{adj}", factor: 0.5}', r"'bare_adj'.*factor applies"),
    ],
)
def test_a_broken_template_fails_naming_it(corpus_dir, old, new, message):
    _break(corpus_dir, "templates.yaml", old, new)
    with pytest.raises(PresetFileError, match=message):
        prompt_templates.load_templates()


def test_a_broken_named_preset_fails_naming_the_entry(corpus_dir):
    _break(corpus_dir, "named.yaml", "compose: [warm, tape]", "compose: [warm, tapes]")
    with pytest.raises(PresetFileError, match=r"preset 'warm-tape'.*unknown descriptor 'tapes'.*tape"):
        named_presets.load_named_presets()


def test_a_broken_named_preset_fails_naming_the_entry_when_read_alone(corpus_dir):
    _break(corpus_dir, "named.yaml", "compose: [warm, tape]", "compose: [warm, tapes]")
    with pytest.raises(PresetFileError, match=r"preset 'warm-tape'.*unknown descriptor 'tapes'.*tape"):
        get_named_preset("Warm Tape")
    _break(corpus_dir, "descriptors.yaml", "  tape:\n    family: character", "  tape:\n    family: colour")
    _break(corpus_dir, "named.yaml", "compose: [warm, tapes]", "compose: [warm, tape]")
    for cache in (corpus.load_descriptors, corpus_files.load_yaml):  # the close names read them all
        cache.cache_clear()
    with pytest.raises(PresetFileError, match=r"descriptor 'tape'.*family"):
        get_named_preset("warm-tape")


def test_a_preset_named_twice_is_refused_also_when_asked_for_by_name(corpus_dir):
    _break(corpus_dir, "named.yaml", "  - name: hot-tape\n", "  - name: Warm_Tape\n")
    with pytest.raises(PresetFileError, match=r"preset 'warm-tape'.*defined twice"):
        get_named_preset("warm-tape")


def test_one_named_preset_read_alone_equals_the_one_of_the_whole_file():
    """get_named_preset reads only its entry of named.yaml and the descriptors it composes (and
    recipes.conventions only its section): for every preset and descriptor, the same result as
    reading the whole files."""
    caches = [named_presets.load_named_presets, corpus.load_descriptors, recipes.conventions]
    for c in caches:
        c.cache_clear()
    try:
        entries = corpus_files.load_yaml("named.yaml")["presets"]
        alone = {e["name"]: get_named_preset(str(e["name"]).upper().replace("-", " ")) for e in entries}
        descriptor_names = list(corpus_files.load_yaml("descriptors.yaml")["descriptors"])
        descriptors_alone = {n: corpus.get_descriptor(n) for n in descriptor_names}
        assert not named_presets.load_named_presets.cache_info().currsize  # nothing read the whole file
        assert not corpus.load_descriptors.cache_info().currsize
        conventions_alone = recipes.conventions()
        recipes.conventions.cache_clear()
        assert conventions_alone == recipes.conventions()
        whole = named_presets.load_named_presets()
        assert len(alone) == len(whole) > 100
        for name, one in alone.items():
            other = whole[name]
            assert (one.name, one.tags, one.description, one.descriptors, one.phrases, one.recipe) == (
                other.name, other.tags, other.description, other.descriptors, other.phrases, other.recipe)
            assert one.preset.to_dict() == other.preset.to_dict() and one.preset.notes == other.preset.notes
        assert descriptors_alone == corpus.load_descriptors()
        assert corpus.get_descriptor("no-such-word") is None
    finally:
        for c in caches:
            c.cache_clear()


# ---------------------------------------------------------------------------- composition
def test_eq_gains_add_and_clip():
    boost = Recipe({"eq": {"band1_type": "low_shelf", "band1_freq_hz": 100.0, "band1_gain_db": 12.0, "band1_q": 0.7}})
    assert compose([boost, boost]).to_preset()["eq"]["band1_gain_db"] == 20.0
    warm_bright = compose([load_descriptors()["warm"].recipe, load_descriptors()["bright"].recipe]).to_preset()
    # warm's low shelf kept, both high-shelf moves summed (+5 - 2.5)
    assert warm_bright["eq"]["band1_gain_db"] == pytest.approx(3.0)
    assert warm_bright["eq"]["band5_gain_db"] == pytest.approx(2.5)


def test_pass_filters_keep_the_most_restrictive_cutoff():
    d = load_descriptors()
    both = compose([d["thin"].recipe, d["tinny"].recipe]).to_preset()["eq"]
    assert both["band1_type"] == "high_pass" and both["band1_freq_hz"] == 350.0
    both = compose([d["telephone"].recipe, d["muffled"].recipe]).to_preset()["eq"]
    assert both["band5_type"] == "low_pass" and both["band5_freq_hz"] == 2500.0
    # a pass filter wins over a shelf in the same band
    both = compose([d["bright"].recipe, d["muffled"].recipe]).to_preset()["eq"]
    assert both["band5_type"] == "low_pass"


def test_reverb_distortion_compressor_take_the_stronger_and_pitch_adds():
    d = load_descriptors()
    room = compose([d["bathroom"].recipe, d["cathedral"].recipe]).to_preset()["reverb"]
    cathedral = p("cathedral")["reverb"]
    assert room["room_size"] == cathedral["room_size"] and room["diffusion"] == cathedral["diffusion"]
    drive = compose([d["tape"].recipe, d["fuzz"].recipe]).to_preset()
    assert drive["distortion"]["drive_db"] == p("fuzz")["distortion"]["drive_db"]
    assert drive["distortion"]["color"] == p("fuzz")["distortion"]["color"]
    comp = compose([d["glue"].recipe, d["squashed"].recipe]).to_preset()["compressor"]
    assert comp["ratio"] == p("squashed")["compressor"]["ratio"]
    assert comp["attack_ms"] == p("squashed")["compressor"]["attack_ms"]
    pitch = compose([d["fifth-up"].recipe, d["whole-step-up"].recipe]).to_preset()
    assert pitch["pitch"]["semitones"] == 9.0
    assert compose([d["octave-up"].recipe, d["fifth-up"].recipe]).to_preset()["pitch"]["semitones"] == 12.0


def test_switch_offs_hold_unless_another_recipe_turns_the_effect_on():
    d = load_descriptors()
    assert not compose([d["dry"].recipe, d["warm"].recipe]).to_preset().enabled["reverb"]
    assert compose([d["clean"].recipe, d["crunchy"].recipe]).to_preset().enabled["distortion"]


def test_intensity_scales_the_deviation_from_neutral_only():
    slight, plain, very = p("warm", 0.4), p("warm"), p("warm", 1.8)
    g = [x["eq"]["band1_gain_db"] for x in (slight, plain, very)]
    assert 0 < g[0] < g[1] < g[2]
    assert slight["eq"]["band1_freq_hz"] == plain["eq"]["band1_freq_hz"] == very["eq"]["band1_freq_hz"]
    assert p("crunchy", 0.5)["distortion"]["color"] == p("crunchy")["distortion"]["color"]
    assert p("crunchy", 0.5)["distortion"]["drive_db"] < p("crunchy")["distortion"]["drive_db"]
    assert p("compressed", 1.5)["compressor"]["ratio"] > p("compressed")["compressor"]["ratio"]
    less_muddy = load_descriptors()["muddy"].recipe.scaled(-0.6).to_preset()
    assert less_muddy["eq"]["band2_gain_db"] < 0


# ---------------------------------------------------------------------------- sanity table
def _band(preset: Preset, band_type: str) -> dict | None:
    v = preset["eq"]
    for i in range(1, 6):
        if v[f"band{i}_type"] == band_type:
            return {"freq_hz": v[f"band{i}_freq_hz"], "gain_db": v[f"band{i}_gain_db"]}
    return None


def test_bright_raises_and_dark_lowers_the_top():
    assert _band(p("bright"), "high_shelf")["gain_db"] > 3
    assert eq_gain_db(p("bright"), 12000)[0] > 4
    dark = p("dark")
    assert (_band(dark, "high_shelf") or {"gain_db": -1})["gain_db"] < 0 or _band(dark, "low_pass")
    assert eq_gain_db(dark, 12000)[0] < -4
    assert eq_gain_db(p("airy"), 16000)[0] > 3 and abs(eq_gain_db(p("airy"), 500)[0]) < 0.5


def test_telephone_band_limits_to_about_300_to_3400_hz():
    tel = p("telephone")
    hp, lp = _band(tel, "high_pass"), _band(tel, "low_pass")
    assert 250 <= hp["freq_hz"] <= 400 and 3000 <= lp["freq_hz"] <= 3800
    g = eq_gain_db(tel, [60, 1000, 1500, 10000])
    assert g[0] < g[2] - 20 and g[3] < g[2] - 20 and g[1] > -3


@pytest.mark.parametrize(
    "name, lo_hz, hi_hz, sign",
    [
        ("muddy", 200, 500, +1), ("boxy", 400, 800, +1), ("honky", 700, 1300, +1), ("nasal", 800, 2000, +1),
        ("harsh", 2000, 4500, +1), ("sibilant", 5000, 9000, +1), ("present", 3000, 6000, +1),
        ("boomy", 50, 200, +1), ("warm", 100, 300, +1), ("hollow", 400, 1500, -1), ("scooped", 500, 1200, -1),
    ],
)
def test_tone_words_move_their_frequency_region(name, lo_hz, hi_hz, sign):
    preset = p(name)
    freqs = np.geomspace(20, 20000, 400)
    g = eq_gain_db(preset, freqs)
    region = (freqs >= lo_hz) & (freqs <= hi_hz)
    peak = g[region].max() if sign > 0 else g[region].min()
    assert sign * peak > 2.0, (name, peak)
    # the strongest move of the whole response lies in (or next to) the region
    extreme = freqs[np.argmax(sign * g)]
    assert lo_hz / 2 <= extreme <= hi_hz * 2 or sign * g[region].max() > 0.8 * sign * g[np.argmax(sign * g)]


def test_thin_cuts_the_lows_and_bassy_lifts_them():
    assert eq_gain_db(p("thin"), 60)[0] < -10
    assert eq_gain_db(p("bassy"), 50)[0] > 5


def test_spaces_are_ordered_by_size():
    size = {n: p(n)["reverb"]["room_size"] for n in ("booth", "bathroom", "small-room", "hall", "church", "cathedral")}
    assert size["booth"] < size["small-room"] < size["bathroom"] < size["hall"] < size["church"] < size["cathedral"]
    assert room_size_to_t60_s(size["cathedral"]) > 4.0
    assert 0.6 <= room_size_to_t60_s(size["bathroom"]) <= 1.5
    assert room_size_to_t60_s(size["booth"]) < 0.3
    assert not p("dry").enabled["reverb"]
    assert p("plate")["reverb"]["diffusion"] > p("spring")["reverb"]["diffusion"]
    assert p("bathroom")["reverb"]["damping"] < p("closet")["reverb"]["damping"]
    assert p("distant")["reverb"]["wet"] > p("intimate")["reverb"]["wet"]
    assert p("stadium")["reverb"]["pre_delay_ms"] > p("small-room")["reverb"]["pre_delay_ms"]


def test_character_and_dynamics():
    drive = {n: p(n)["distortion"]["drive_db"] for n in ("analog", "tape", "saturated", "crunchy", "distorted", "fuzz")}
    assert drive["analog"] < drive["tape"] < drive["saturated"] < drive["crunchy"] < drive["distorted"] < drive["fuzz"]
    assert p("tube")["distortion"]["color"] > p("transistor")["distortion"]["color"]
    assert not p("clean").enabled["distortion"]
    glue, squashed, limited = p("glue")["compressor"], p("squashed")["compressor"], p("limited")["compressor"]
    assert glue["ratio"] <= 2.5 and glue["attack_ms"] >= 10
    assert squashed["ratio"] >= 8 and squashed["threshold_db"] <= -30
    assert limited["ratio"] >= 10 and limited["attack_ms"] <= 1
    assert p("punchy-compression")["compressor"]["attack_ms"] >= 15
    assert p("pumping")["compressor"]["release_ms"] > p("fast-compression")["compressor"]["release_ms"]
    assert not p("dynamic").enabled["compressor"]


def test_pitch_words():
    assert p("octave-up")["pitch"]["semitones"] == 12
    assert p("octave-down")["pitch"]["semitones"] == -12
    assert p("fifth-up")["pitch"]["semitones"] == 7
    assert p("chipmunk")["pitch"]["semitones"] > 6
    assert p("deep-voice")["pitch"]["semitones"] < 0
    assert p("demon")["pitch"]["semitones"] <= -7 and p("demon").enabled["distortion"]


def test_named_presets_sound_like_their_names():
    tel = get_named_preset("telephone").preset
    g = eq_gain_db(tel, [60, 1500, 10000])
    assert g[0] < g[1] - 20 and g[2] < g[1] - 20
    under = get_named_preset("underwater").preset
    assert eq_gain_db(under, 4000)[0] < eq_gain_db(under, 200)[0] - 20
    assert get_named_preset("cathedral").preset["reverb"]["room_size"] > get_named_preset("bathroom-singer").preset["reverb"]["room_size"]
    assert get_named_preset("chipmunk").preset["pitch"]["semitones"] == 12
    assert get_named_preset("megaphone").preset.enabled["distortion"]
    bypass = get_named_preset("bypass").preset
    assert not any(bypass.enabled.values())
