"""Explicit values in prompts come out exactly: ≥40 phrasings, clamps with notes, and EQ
requests placed without destroying the rest of a predicted EQ."""

from __future__ import annotations

import math

import pytest

from audiomanip.vocab.descriptors import descriptor_preset
from audiomanip.vocab.amount_words import normalize_prompt
from audiomanip.vocab.explicit import parse_explicit
from audiomanip.params import Preset, room_size_to_t60_s, t60_s_to_room_size

# (phrase, expected parameter values {(effect, param): value}, expected EQ moves
#  [(type, freq_hz, gain_db)], switched on, switched off)
PARAMS = [
    ("pitch down 3 semitones", {("pitch", "semitones"): -3}),
    ("up an octave", {("pitch", "semitones"): 12}),
    ("an octave lower", {("pitch", "semitones"): -12}),
    ("+5 st", {("pitch", "semitones"): 5}),
    ("-2.5 semitones", {("pitch", "semitones"): -2.5}),
    ("raise the pitch by 2 semitones", {("pitch", "semitones"): 2}),
    ("lower the pitch by 4 semitones", {("pitch", "semitones"): -4}),
    ("shift it down three semitones", {("pitch", "semitones"): -3}),
    ("three semitones up", {("pitch", "semitones"): 3}),
    ("transpose up seven semitones", {("pitch", "semitones"): 7}),
    ("pitch \u22124 st", {("pitch", "semitones"): -4}),
    ("two and a half semitones down", {("pitch", "semitones"): -2.5}),
    ("drop it an octave", {("pitch", "semitones"): -12}),
    ("pitch shift of 1.5 semitones", {("pitch", "semitones"): 1.5}),
    ("up a fifth", {("pitch", "semitones"): 7}),
    ("a fifth lower", {("pitch", "semitones"): -7}),
    ("down a minor third", {("pitch", "semitones"): -3}),
    ("a major third up", {("pitch", "semitones"): 4}),
    ("up a whole tone", {("pitch", "semitones"): 2}),
    ("down a half step", {("pitch", "semitones"): -1}),
    ("transpose it by a perfect fourth", {("pitch", "semitones"): 5}),
    ("lower the vocals by a tritone", {("pitch", "semitones"): -6}),
    ("up a minor seventh", {("pitch", "semitones"): 10}),
    ("an augmented fifth higher", {("pitch", "semitones"): 8}),
    ("40% wet reverb", {("reverb", "wet"): 0.4}),
    ("reverb wet 0.3", {("reverb", "wet"): 0.3}),
    ("reverb mix 25%", {("reverb", "wet"): 0.25}),
    ("30 percent reverb", {("reverb", "wet"): 0.3}),
    ("pre-delay 30 ms", {("reverb", "pre_delay_ms"): 30}),
    ("20ms of predelay", {("reverb", "pre_delay_ms"): 20}),
    ("drive 12 dB", {("distortion", "drive_db"): 12}),
    ("18 dB of overdrive", {("distortion", "drive_db"): 18}),
    ("4:1 compression", {("compressor", "ratio"): 4}),
    ("compress with a 4:1 ratio at -24 dB", {("compressor", "ratio"): 4, ("compressor", "threshold_db"): -24}),
    ("ratio of 8 at -30 dBFS", {("compressor", "ratio"): 8, ("compressor", "threshold_db"): -30}),
    ("reduce the volume by 3 dB", {("output", "gain_db"): -3}),
    ("lower the overall level by 2 dB", {("output", "gain_db"): -2}),
    ("increase the gain by 4 dB", {("output", "gain_db"): 4}),
    ("ratio of 8", {("compressor", "ratio"): 8}),
    ("threshold -20 dB", {("compressor", "threshold_db"): -20}),
    ("threshold at \u201318 dBFS", {("compressor", "threshold_db"): -18}),
    ("attack 5 ms", {("compressor", "attack_ms"): 5}),
    ("release 200 ms", {("compressor", "release_ms"): 200}),
    ("release time of 0.5 s", {("compressor", "release_ms"): 500}),
    ("makeup gain 6 dB", {("compressor", "makeup_db"): 6}),
    ("turn it up 3 dB", {("output", "gain_db"): 3}),
    ("turn it down four dB", {("output", "gain_db"): -4}),
    ("output -6 dB", {("output", "gain_db"): -6}),
    ("make it 2 dB quieter", {("output", "gain_db"): -2}),
    ("volume +1.5 dB", {("output", "gain_db"): 1.5}),
]

EQ = [
    ("cut 300 Hz by 4 dB", ("peak", 300, -4)),
    ("boost 5k by 3dB", ("peak", 5000, 3)),
    ("+6 dB at 100 Hz", ("peak", 100, 6)),
    ("-3 dB at 2.5 kHz", ("peak", 2500, -3)),
    ("a 4 dB cut at 250 Hz", ("peak", 250, -4)),
    ("cut 2 dB at 800hz", ("peak", 800, -2)),
    ("reduce 500 Hz by six dB", ("peak", 500, -6)),
    ("high-pass at 80 Hz", ("high_pass", 80, 0)),
    ("highpass filter at 120hz", ("high_pass", 120, 0)),
    ("roll off below 100 Hz", ("high_pass", 100, 0)),
    ("low pass at 3.4 kHz", ("low_pass", 3400, 0)),
    ("lowpass 8k", ("low_pass", 8000, 0)),
    ("cut everything above 10k", ("low_pass", 10000, 0)),
    ("boost the bass by 4 dB", ("low_shelf", 100, 4)),
    ("cut the treble by 3 dB", ("high_shelf", 10000, -3)),
]

FLAGS = [
    ("no reverb", [], ["reverb"]),
    ("keep it dry", [], ["reverb"]),
    ("completely dry please", [], ["reverb"]),
    ("turn off the reverb", [], ["reverb"]),
    ("no distortion", [], ["distortion"]),
    ("without any saturation", [], ["distortion"]),
    ("without compression", [], ["compressor"]),
    ("no limiter", [], ["compressor"]),
    ("keep the pitch", [], ["pitch"]),
    ("add some reverb", ["reverb"], []),
    ("with compression", ["compressor"], []),
]


def test_at_least_forty_phrasings_are_covered():
    assert len(PARAMS) + len(EQ) + len(FLAGS) + 4 >= 40  # + the reverb-time and clamp tests below


@pytest.mark.parametrize("phrase, expected", PARAMS)
def test_parameter_phrasings(phrase, expected):
    ex = parse_explicit(phrase)
    for (effect, param), value in expected.items():
        assert ex.value(effect, param) == pytest.approx(value), (phrase, ex.describe())
    preset = ex.apply(Preset.default())
    for (effect, param), value in expected.items():
        assert preset.values[effect][param] == pytest.approx(value)
        assert preset.enabled[effect]
    assert not ex.notes


@pytest.mark.parametrize("phrase, move", EQ)
def test_eq_phrasings(phrase, move):
    band_type, freq, gain = move
    ex = parse_explicit(phrase)
    assert len(ex.eq) == 1, ex.describe()
    assert ex.eq[0].band_type == band_type
    assert ex.eq[0].freq_hz == pytest.approx(freq) and ex.eq[0].gain_db == pytest.approx(gain)
    preset = ex.apply(Preset.default())
    assert preset.enabled["eq"]
    v = preset["eq"]
    hits = [i for i in range(1, 6) if v[f"band{i}_type"] == band_type and v[f"band{i}_freq_hz"] == pytest.approx(freq)]
    assert len(hits) == 1
    assert v[f"band{hits[0]}_gain_db"] == pytest.approx(gain)
    others = [i for i in range(1, 6) if i != hits[0]]
    assert all(v[f"band{i}_gain_db"] == 0 for i in others)


@pytest.mark.parametrize("phrase, on, off", FLAGS)
def test_enable_disable_phrasings(phrase, on, off):
    ex = parse_explicit(phrase)
    assert ex.enable == on and ex.disable == off, ex.describe()
    base = descriptor_preset("cathedral")
    for name in ("distortion", "compressor", "pitch"):
        base.enabled[name] = True
    out = ex.apply(base)
    for name in off:
        assert not out.enabled[name]
    for name in on:
        assert out.enabled[name]


@pytest.mark.parametrize("phrase, seconds", [("2 second reverb", 2.0), ("reverb time 2.5 s", 2.5),
                                             ("a 1.2-second tail", 1.2), ("T60 of 800 ms", 0.8)])
def test_reverb_time_sets_room_size_by_the_inverse_t60_mapping(phrase, seconds):
    ex = parse_explicit(phrase)
    room = ex.value("reverb", "room_size")
    assert room == pytest.approx(math.log(seconds / 0.15) / math.log(60))
    assert room_size_to_t60_s(room) == pytest.approx(seconds)
    assert t60_s_to_room_size(room_size_to_t60_s(0.37)) == pytest.approx(0.37)



@pytest.mark.parametrize(
    "phrase, effect, param, value, note",
    [
        ("down two octaves", "pitch", "semitones", -12, "-24"),
        ("up 15 semitones", "pitch", "semitones", 12, "15"),
        ("reverb at 150% wet", "reverb", "wet", 1.0, "1.5"),
        ("output gain +30 dB", "output", "gain_db", 24, "30"),
        ("drive 60 dB", "distortion", "drive_db", 40, "60"),
        ("20 second reverb", "reverb", "room_size", 1.0, "20 s"),
        ("ratio of 50", "compressor", "ratio", 20, "50"),
    ],
)
def test_out_of_range_values_clamp_with_a_note(phrase, effect, param, value, note):
    ex = parse_explicit(phrase)
    assert ex.value(effect, param) == pytest.approx(value)
    assert any(note in n for n in ex.notes), ex.notes


def test_positive_threshold_is_read_as_negative_with_a_note():
    ex = parse_explicit("threshold 20 dB")
    assert ex.value("compressor", "threshold_db") == -20
    assert ex.notes


def test_eq_q_is_read():
    ex = parse_explicit("boost 1 kHz by 3 dB with a Q of 2")
    assert ex.eq[0].q == 2.0
    out = ex.apply(Preset.default())
    assert any(out["eq"][f"band{i}_q"] == 2.0 and out["eq"][f"band{i}_freq_hz"] == 1000 for i in range(1, 6))


def test_number_words_decimals_and_unicode_minus():
    assert normalize_prompt("Pitch DOWN Twenty-One semitones") == "pitch down 21 semitones"
    assert normalize_prompt("two point five") == "2.5"
    assert normalize_prompt("\u22126 dB") == "-6 db"


def test_several_values_in_one_prompt():
    ex = parse_explicit("make it warm, pitch up 2 semitones, cut 300 Hz by 4 dB, 30% wet reverb and 4:1 compression")
    assert ex.value("pitch", "semitones") == 2
    assert ex.value("reverb", "wet") == 0.3
    assert ex.value("compressor", "ratio") == 4
    assert [(m.band_type, m.freq_hz, m.gain_db) for m in ex.eq] == [("peak", 300, -4)]
    assert len(ex.describe()) == 4
    ex = parse_explicit("reverb wet 0.3, no distortion")  # a value right before a blanked-out phrase
    assert ex.value("reverb", "wet") == 0.3 and ex.disable == ["distortion"]


def test_the_last_statement_of_a_parameter_wins():
    assert parse_explicit("octave up preset, raise the pitch by 3 semitones").value("pitch", "semitones") == 3
    assert parse_explicit("pitch up 3 semitones, no wait, up an octave").value("pitch", "semitones") == 12
    out = parse_explicit("pitch up 3 semitones, no wait, up an octave").apply(Preset.default())
    assert out["pitch"]["semitones"] == 12


def test_words_without_numbers_are_left_to_the_model():
    for prompt in ("make it warm and bright", "a small room", "make it 1st class", "the third take", "louder",
                   "a second of silence"):
        assert not parse_explicit(prompt), prompt


def test_eq_requests_keep_the_rest_of_the_eq():
    warm = descriptor_preset("warm")  # band1 low shelf +3 dB, band5 high shelf -2.5 dB
    out = parse_explicit("cut 300 Hz by 4 dB and high-pass at 80 Hz").apply(warm)
    v = out["eq"]
    types = [v[f"band{i}_type"] for i in range(1, 6)]
    assert "high_pass" in types and "low_shelf" in types and "high_shelf" in types
    shelf = types.index("low_shelf") + 1
    assert v[f"band{shelf}_gain_db"] == 3.0
    hp = types.index("high_pass") + 1
    assert v[f"band{hp}_freq_hz"] == 80.0
    peaks = [i for i in range(1, 6) if v[f"band{i}_type"] == "peak" and v[f"band{i}_freq_hz"] == 300.0]
    assert len(peaks) == 1 and v[f"band{peaks[0]}_gain_db"] == -4.0


def test_eq_request_near_an_existing_peak_reuses_it():
    muddy = descriptor_preset("muddy")  # band2 peak 300 Hz +5 dB
    out = parse_explicit("cut 280 Hz by 2 dB").apply(muddy)
    v = out["eq"]
    assert v["band2_freq_hz"] == 280.0 and v["band2_gain_db"] == -2.0
    assert sum(v[f"band{i}_type"] == "peak" and v[f"band{i}_gain_db"] != 0 for i in range(1, 6)) == 1


def test_explicit_high_pass_replaces_a_predicted_one():
    tel = descriptor_preset("telephone")
    out = parse_explicit("high-pass at 150 Hz").apply(tel)
    v = out["eq"]
    assert [v[f"band{i}_type"] for i in range(1, 6)].count("high_pass") == 1
    assert v["band1_freq_hz"] == 150.0 and v["band5_type"] == "low_pass"


def test_eq_on_a_disabled_eq_starts_from_flat():
    base = Preset.default()
    base.values["eq"]["band3_gain_db"] = 9.0  # a stale value of a switched-off EQ
    out = parse_explicit("boost 5k by 3 dB").apply(base)
    assert out["eq"]["band3_gain_db"] == 0.0


def test_when_every_band_is_busy_one_is_replaced_with_a_note():
    busy = descriptor_preset("broadcast")
    busy.values["eq"]["band3_gain_db"] = 1.0  # broadcast uses bands 1, 2, 4, 5; now 3 too
    out = parse_explicit("cut 6 kHz by 5 dB").apply(busy)
    v = out["eq"]
    assert any(v[f"band{i}_freq_hz"] == 6000 and v[f"band{i}_gain_db"] == -5 for i in range(1, 6))
    assert out.notes


def test_disable_wins_over_a_value_with_a_note():
    ex = parse_explicit("no reverb, 40% wet reverb")
    out = ex.apply(descriptor_preset("hall"))
    assert not out.enabled["reverb"]
    assert ex.notes


def test_describe_reads_well():
    lines = parse_explicit("pitch down 3 semitones, 2 second reverb, 4:1 compression, no distortion").describe()
    assert "pitch.semitones = -3 st" in lines
    assert "compressor.ratio = 4:1" in lines
    assert "distortion off" in lines
    assert any(line.startswith("reverb.room_size") and "T60 2 s" in line for line in lines)


def test_a_ratio_alone_switches_on_a_compressor_that_compresses():
    from audiomanip.vocab.explicit_values import IMPLIED_THRESHOLD_DB

    p = parse_explicit("4:1 compression").apply(Preset.default())
    assert p.enabled["compressor"] and p["compressor"]["ratio"] == 4
    assert p["compressor"]["threshold_db"] == IMPLIED_THRESHOLD_DB < -6  # 0 dB would never compress
    on = Preset.default()
    on.set("compressor", "threshold_db", -30.0)
    assert parse_explicit("4:1 compression").apply(on)["compressor"]["threshold_db"] == -30.0  # kept


def test_an_interval_that_does_not_exist_is_left_to_the_model_with_a_note():
    ex = parse_explicit("up a major fifth")
    assert ex.value("pitch", "semitones") is None and not ex
    assert "no such interval" in ex.notes[0]


@pytest.mark.parametrize("prompt", ["high cut at 4 kHz", "4:1 compression", "a fifth up",
                                    "please add a high-pass at 80 Hz to the vocals", "pitch down 3 semitones, no reverb"])
def test_a_prompt_of_explicit_values_only_is_complete(prompt):
    assert parse_explicit(prompt).complete


@pytest.mark.parametrize("prompt", ["warm with 4:1 compression", "high cut at 4 kHz and make it gritty",
                                    "bass and a fifth up", "make it warm", "", "add some reverb", "no reverb"])
def test_a_prompt_with_words_for_the_model_is_not_complete(prompt):
    assert not parse_explicit(prompt).complete


def test_resolve_keeps_only_the_stated_values_of_a_complete_prompt():
    gritty = descriptor_preset("gritty")  # what a model might have guessed
    gritty.enabled["reverb"] = True
    out = parse_explicit("high cut at 4 kHz").resolve(gritty)
    assert not any(out.enabled[e] for e in ("distortion", "reverb", "compressor", "pitch"))
    types = [out["eq"][f"band{i}_type"] for i in range(1, 6)]
    assert types.count("low_pass") == 1
    assert all(out["eq"][f"band{i}_gain_db"] == 0 for i in range(1, 6) if types[i - 1] not in ("low_pass", "high_pass"))
    # with a word left for the model, the prediction is kept under the explicit value
    kept = parse_explicit("high cut at 4 kHz, gritty").resolve(gritty)
    assert kept.enabled["distortion"] and kept.enabled["reverb"]
    # a complete compressor request compresses from the implied threshold, not the guess
    comp = parse_explicit("4:1 compression").resolve(gritty)
    assert comp["compressor"]["threshold_db"] <= -18 and not comp.enabled["distortion"]
