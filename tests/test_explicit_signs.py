"""One rule decides the sign of every signed amount in a prompt: a direction word binds to its
amount wherever it stands ("down 5 semitones", "5 semitones down", "down by 5", "minus 5").

A grid of phrasings × directions × number forms for pitch, output gain, EQ peaks and shelves and
reverb wet; plus the small clamps users notice ("1e309 semitones up", "-40% wet", "1 MHz",
"an octave and a half")."""

from __future__ import annotations

import itertools

import pytest

from audiomanip.vocab.explicit import parse_explicit

#: number as written → value
NUMBERS = [("5", 5.0), ("five", 5.0), ("2.5", 2.5), ("two point five", 2.5), ("three", 3.0)]

#: (phrasing with {d} and {n}, direction words (down, up))
PITCH = [
    ("{d} {n} semitones", ("down", "up")),
    ("{n} semitones {d}", ("down", "up")),
    ("{d} by {n} semitones", ("down", "up")),
    ("go {d} {n} semitones", ("down", "up")),
    ("go {d} by {n} semitones", ("down", "up")),
    ("pitch {d} {n} semitones", ("down", "up")),
    ("pitch {d} {n}", ("down", "up")),
    ("shift it {d} by {n} semitones", ("down", "up")),
    ("{d} {n} semitones", ("minus", "plus")),
    ("{d} the pitch by {n} semitones", ("lower", "raise")),
    ("deeper voice, {d} {n} semitones", ("down", "up")),
    ("make it brighter and go {d} {n} semitones", ("down", "up")),
    ("{n} half steps {d}", ("lower", "higher")),
]
GAIN = [
    ("turn it {d} {n} dB", ("down", "up")),
    ("volume {d} {n} dB", ("down", "up")),
    ("volume {d} by {n} dB", ("down", "up")),
    ("output {d} {n} dB", ("minus", "plus")),
    ("{d} the volume by {n} dB", ("lower", "raise")),
    ("{d} the gain by {n} dB", ("reduce", "increase")),
    ("{n} dB {d}", ("quieter", "louder")),
]
EQ_PEAK = [
    ("{d} 300 Hz by {n} dB", ("cut", "boost")),
    ("{d} 300 Hz by {n} dB", ("lower", "raise")),
    ("300 Hz {d} {n} dB", ("down", "up")),
    ("300 Hz {d} by {n} dB", ("down", "up")),
    ("a {n} dB {d} at 300 Hz", ("cut", "boost")),
    ("{d} {n} dB at 300 Hz", ("cut", "boost")),
    ("{d} by {n} dB at 300 Hz", ("down", "up")),
]
EQ_SHELF = [
    ("{d} the bass by {n} dB", ("cut", "boost")),
    ("bass {d} {n} dB", ("down", "up")),
    ("the bass {d} by {n} dB", ("down", "up")),
]


def _grid(phrasings):
    for (text, words), (num, value) in itertools.product(phrasings, NUMBERS):
        for word, sign in zip(words, (-1.0, 1.0)):
            yield pytest.param(text.format(d=word, n=num), sign * value, id=text.format(d=word, n=num))


@pytest.mark.parametrize("prompt, expected", list(_grid(PITCH)))
def test_pitch_direction_binds_wherever_it_stands(prompt, expected):
    r = parse_explicit(prompt)
    assert r.value("pitch", "semitones") == pytest.approx(expected), (prompt, r.describe())


@pytest.mark.parametrize("prompt, expected", list(_grid(GAIN)))
def test_gain_direction_binds_wherever_it_stands(prompt, expected):
    r = parse_explicit(prompt)
    assert r.value("output", "gain_db") == pytest.approx(expected), (prompt, r.describe())


@pytest.mark.parametrize("prompt, expected", list(_grid(EQ_PEAK)))
def test_eq_peak_cut_or_boost(prompt, expected):
    r = parse_explicit(prompt)
    assert [(m.band_type, m.freq_hz) for m in r.eq] == [("peak", 300.0)], (prompt, r.describe())
    assert r.eq[0].gain_db == pytest.approx(expected), (prompt, r.describe())


@pytest.mark.parametrize("prompt, expected", list(_grid(EQ_SHELF)))
def test_eq_shelf_cut_or_boost(prompt, expected):
    r = parse_explicit(prompt)
    assert [m.band_type for m in r.eq] == ["low_shelf"], (prompt, r.describe())
    assert r.eq[0].gain_db == pytest.approx(expected), (prompt, r.describe())


@pytest.mark.parametrize("num, value", NUMBERS)
@pytest.mark.parametrize("form", ["{s}{n}% wet", "{s}{n} percent wet reverb", "reverb mix {s}{n}%"])
def test_wet_sign(form, num, value):
    up = parse_explicit(form.format(s="", n=num))
    assert up.value("reverb", "wet") == pytest.approx(value / 100) and not up.notes
    up = parse_explicit(form.format(s="plus ", n=num))
    assert up.value("reverb", "wet") == pytest.approx(value / 100)
    for sign in ("-", "minus ", "\u2212"):
        down = parse_explicit(form.format(s=sign, n=num))
        # a negative wet amount is never read as a positive one: clamped to 0 with a note
        assert down.value("reverb", "wet") == 0.0, (form, sign, down.describe())
        assert any("wet" in n and "clamped to 0" in n for n in down.notes), down.notes


def test_conflicting_directions_say_which_one_won():
    r = parse_explicit("pitch up 3 and down 5 semitones")
    assert r.value("pitch", "semitones") == -5.0
    (note,) = r.notes
    assert "pitch.semitones" in note and "3" in note and "-5" in note and "last one, -5" in note
    r = parse_explicit("turn it up 2 dB, then turn it down 6 dB")
    assert r.value("output", "gain_db") == -6.0
    assert any("output.gain_db" in n and "last one, -6" in n for n in r.notes)


def test_one_request_each_keeps_its_own_sign():
    r = parse_explicit("down 4 semitones and boost 300 Hz by 3 dB, volume down 2 dB")
    assert r.value("pitch", "semitones") == -4.0
    assert r.value("output", "gain_db") == -2.0
    assert [(m.freq_hz, m.gain_db) for m in r.eq] == [(300.0, 3.0)]
    assert not r.notes


def test_huge_number_clamps_with_a_note_naming_what_was_asked():
    r = parse_explicit("1e309 semitones up")
    assert r.value("pitch", "semitones") == 12.0
    (note,) = r.notes
    assert "1e309" in note and "clamped to 12" in note and "309 " not in note.replace("1e309", "")
    assert parse_explicit("1e309 semitones down").value("pitch", "semitones") == -12.0


def test_octave_and_a_half_clamps_with_a_note():
    r = parse_explicit("down an octave and a half")
    assert r.value("pitch", "semitones") == -12.0
    assert any("-18" in n and "clamped to -12" in n for n in r.notes), r.notes
    r = parse_explicit("up one and a half octaves")
    assert r.value("pitch", "semitones") == 12.0 and any("18" in n for n in r.notes)


def test_megahertz_is_not_ignored_silently():
    r = parse_explicit("boost 1 MHz by 90 dB")
    assert r.notes, "a request outside the audio range must say so"
    assert any("1e+06" in n for n in r.notes) and any("90" in n for n in r.notes)


def test_octave_without_direction_is_not_a_shift():
    assert parse_explicit("an octave wide").value("pitch", "semitones") is None
