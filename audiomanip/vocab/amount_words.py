"""How a prompt states amounts, for the explicit-value patterns of :mod:`audiomanip.vocab.explicit`:
prompt text with number words as digits (:func:`normalize_prompt`), musical intervals in
semitones (:data:`INTERVAL`, :func:`interval_semitones`) and the direction (+1/−1) of a signed
amount ("down 5 semitones", "cut 300 Hz by 4 dB", :func:`amount_direction`).
"""

from __future__ import annotations

import re


# ---------------------------------------------------------------------------- normalising
_MINUS = dict.fromkeys(map(ord, "\u2212\u2012\u2013\u2014\ufe63\uff0d"), "-")
_MINUS[ord("\uff0b")] = "+"

_UNITS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"])}
_TENS = {w: 10 * i for i, w in enumerate(["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]) if i >= 2}
_NUMWORD = "|".join(sorted(list(_UNITS) + list(_TENS), key=len, reverse=True))
_NUMBER_WORDS_RE = re.compile(
    rf"\b(?P<a>{_NUMWORD})(?:[\s-](?P<b>{'|'.join(_UNITS)}))?(?:\s+(?:point|dot)\s+(?P<c>{'|'.join(_UNITS)}))?"
    rf"(?:\s+and\s+a\s+half)?\b"
)


def _number_words(text: str) -> str:
    def repl(m: re.Match) -> str:
        a, b, c = m.group("a"), m.group("b"), m.group("c")
        value = float(_UNITS.get(a, _TENS.get(a, 0)))
        if b is not None:
            if a not in _TENS:  # "one two" is not a number
                return m.group(0)
            value += _UNITS[b]
        if c is not None:
            value += _UNITS[c] / 10.0
        if m.group(0).endswith("and a half"):
            value += 0.5
        return f"{value:g}"

    return _NUMBER_WORDS_RE.sub(repl, text)


def normalize_prompt(prompt: str) -> str:
    """Lower case, ASCII minus signs, number words as digits, single spaces."""
    text = prompt.translate(_MINUS).lower()
    text = re.sub(r"\s+", " ", text)
    return _number_words(text).strip()


# ---------------------------------------------------------------------------- intervals
#: Musical intervals in semitones ("up a fifth", "down a minor third"). A plain degree is the
#: perfect or major interval; "minor" lowers a major degree by one, "augmented" raises by one,
#: "diminished" lowers a perfect degree by one and a major degree by two.
_PERFECT = {"unison": 0, "fourth": 5, "4th": 5, "fifth": 7, "5th": 7, "octave": 12}
_MAJOR = {"second": 2, "2nd": 2, "third": 4, "3rd": 4, "sixth": 9, "6th": 9, "seventh": 11, "7th": 11}
_WHOLE = {"tritone": 6, "whole tone": 2, "whole step": 2, "semitone": 1, "half step": 1, "half tone": 1}
INTERVAL = (r"(?:(?P<qual>perfect|major|minor|augmented|diminished)\s+)?"
            r"(?P<deg>fourth|4th|fifth|5th|second|2nd|third|3rd|sixth|6th|seventh|7th|tritone"
            r"|whole[\s-](?:tone|step)|semitone|half[\s-](?:step|tone))\b")


def interval_semitones(quality: str | None, degree: str) -> float | None:
    """Size of an interval in semitones ("minor", "third" -> 3), or None when the quality does
    not fit the degree ("major fifth")."""
    degree = re.sub(r"[\s-]+", " ", degree)
    if degree in _WHOLE:
        return None if quality else float(_WHOLE[degree])
    if degree in _PERFECT:
        shift = {None: 0, "perfect": 0, "augmented": 1, "diminished": -1}
        return float(_PERFECT[degree] + shift[quality]) if quality in shift else None
    shift = {None: 0, "major": 0, "minor": -1, "augmented": 1, "diminished": -2}
    return float(_MAJOR[degree] + shift[quality]) if quality in shift else None


_CUTS = {"cut", "reduce", "lower", "attenuate", "dip", "remove", "drop", "decrease", "scoop", "pull"}

# ---------------------------------------------------------------------------- direction of a signed amount
#: Words that make the amount they go with negative ("down 5 semitones", "cut 300 Hz by 4 dB") …
DOWN_WORDS = frozenset(_CUTS | {"down", "minus", "below", "deeper", "quieter", "softer", "less", "negative"})
#: … and positive ("up 5 semitones", "boost 5k by 3 dB").
UP_WORDS = frozenset({"up", "raise", "higher", "plus", "increase", "boost", "above", "add", "lift", "bump",
                      "louder", "more", "positive"})
#: Words that end the clause an amount belongs to: a direction word beyond them is another request's.
_CLAUSE_WORDS = frozenset({"and", "then", "but", "while", "also", "with", "after", "before", "or"})
#: How many words before an amount may hold its direction ("go down by 5", "lower the pitch by 5").
_DIRECTION_REACH = 4
_TOKEN = re.compile(r"[a-z]+|\d[\d.e]*|[^\sa-z\d]")


def _word_sign(word: str) -> float | None:
    word = " ".join(word.split())
    if word in DOWN_WORDS:
        return -1.0
    if word in UP_WORDS:
        return 1.0
    return None


def amount_sign(text: str, m: re.Match, number: str = "n", skip: tuple[str, ...] = ("band",)) -> float | None:
    """The direction (+1, -1) of the amount matched by ``m`` in ``text``, or None when nothing
    says; see :func:`amount_direction`."""
    return amount_direction(text, m, number, skip)[0]


def amount_direction(text: str, m: re.Match, number: str = "n",
                     skip: tuple[str, ...] = ("band",)) -> tuple[float | None, int, int]:
    """The direction (+1, -1, or None when nothing says) of the amount matched by ``m`` in
    ``text``, and the span of the text that holds the amount and its direction word.

    One rule for every signed amount (pitch, intervals, octaves, gain, EQ gain, wet): a direction
    word binds to its amount wherever it stands. In order: a direction word inside the match
    ("pitch down 5 semitones", "cut 300 Hz by 4 dB"; the ``skip`` groups, such as the band name
    of "the lower mids", do not count); the sign of the number ("-5 semitones"); the nearest
    direction word before the match in the same clause, at most four words back ("go down by 5
    semitones", "minus 5 semitones", "deeper voice, down 4 semitones"), never across another
    number, a punctuation mark or a word such as "and"; the word right after it ("5 semitones
    down", "an octave higher").
    """
    phrase = m.group(0)
    start = m.start()
    hidden = [(m.start(g) - start, m.end(g) - start) for g in (*skip, number)
              if g in m.groupdict() and m.group(g)]
    for a, b in sorted(hidden, reverse=True):
        phrase = phrase[:a] + " " * (b - a) + phrase[b:]
    span = (m.start(), m.end())
    for word in re.findall(r"[a-z]+", phrase):
        sign = _word_sign(word)
        if sign is not None:
            return (sign, *span)
    if number in m.groupdict() and m.group(number):
        raw = m.group(number).lstrip()
        if raw[:1] in "+-":
            return (-1.0 if raw[0] == "-" else 1.0, *span)
    before = list(_TOKEN.finditer(text, 0, m.start()))
    if before and before[-1].group() in "+-" and before[-1].end() == m.start():
        # "-40% wet": the sign right before the number
        return (-1.0 if before[-1].group() == "-" else 1.0, before[-1].start(), m.end())
    for token in reversed(before[-_DIRECTION_REACH:]):
        sign = _word_sign(token.group())
        if sign is not None:
            return (sign, token.start(), m.end())
        if not token.group().isalpha() or token.group() in _CLAUSE_WORDS:
            break
    after = _TOKEN.search(text, m.end())
    if after and after.group() in ("up", "down", "higher", "lower", "above", "below", "deeper", "louder",
                                   "quieter", "softer"):
        return (_word_sign(after.group()), m.start(), after.end())
    return (None, *span)
