"""Explicit values in a prompt: numbers the user states must come out exactly.

:func:`parse_explicit` reads phrases such as "pitch down 3 semitones", "cut 300 Hz by 4 dB",
"high-pass at 80 Hz", "40% wet reverb", "2 second reverb", "4:1 compression", "no reverb",
"up a fifth", "down a minor third" or "turn it up 3 dB" (number words, decimals and unicode
minus signs included) and returns an :class:`ExplicitValues`; its
:meth:`ExplicitValues.apply` writes them over a predicted preset. Values outside the schema's
range are clamped with a note.

A prompt that says nothing but explicit values ("high cut at 4 kHz", "4:1 compression", "up a
fifth") is :attr:`ExplicitValues.complete`: the model's guesses for the rest of the chain are
not wanted, and :meth:`ExplicitValues.resolve` starts from the neutral preset.

What the results are and how they are written over a preset (EQ placement included) is in
:mod:`audiomanip.vocab.explicit_values`; how amounts are worded (number words, intervals, the
direction of a signed amount) in :mod:`audiomanip.vocab.amount_words`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from audiomanip.params import EFFECTS, Param, effect, room_size_to_t60_s, t60_s_to_room_size
from audiomanip.vocab.amount_words import (
    INTERVAL,
    amount_direction,
    amount_sign,
    interval_semitones,
    normalize_prompt,
)
from audiomanip.vocab.explicit_values import EqMove, ExplicitValues, Override


# ---------------------------------------------------------------------------- patterns
NUM = r"(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?"
SNUM = rf"[+-]?\s?{NUM}"
FREQ = rf"(?P<f>{NUM})\s*(?P<fu>mhz|megahertz|khz|kilohertz|hz|hertz|k)\b"
SEMI = r"(?:semitones?|semis?|half[- ]steps?|half[- ]tones?)"
OF = r"\s*(?:of|at|to|=|:|is)?\s*"
DB = r"\s*(?:db|decibels?)\b"
#: "… at -24 dB" after a ratio: the compressor's threshold.
AT_THRESHOLD = rf"(?:\s+at\s+(?P<t>-\s?{NUM})\s*(?:db(?:fs)?|decibels?)\b)?"
#: "the volume", "the overall level", "its gain" …
LEVEL_WORD = r"(?:(?:the|its|overall|master|output)\s+)*(?:level|volume|output|gain|loudness)"
MS = r"\s*(?P<u>ms|msec|milliseconds?|s|secs?|seconds?)\b"


def _f(m: re.Match, group: str = "f", unit: str = "fu") -> float:
    value = float(m.group(group))
    scale = {"k": 1e3, "khz": 1e3, "kilohertz": 1e3, "mhz": 1e6, "megahertz": 1e6}
    return value * scale.get(m.group(unit), 1.0)


def _n(text: str) -> float:
    text = text.replace(" ", "")
    return float(text)


def _ms(m: re.Match) -> float:
    value = _n(m.group("n"))
    return value * 1000.0 if m.group("u") and m.group("u").startswith("s") else value


class _Parser:
    """Turns pattern matches into values of an :class:`ExplicitValues` (one method per pattern kind)."""

    def __init__(self, result: ExplicitValues, text: str) -> None:
        self.r = result
        #: the whole normalised prompt (some patterns need context)
        self.text = text
        #: position in the prompt of the match being handled, and of each value found
        self.pos = 0
        self.positions: dict[int, int] = {}
        #: the prompt as the patterns see it now (earlier matches blanked out)
        self.current = text
        #: the phrase notes quote for the match being handled, its direction word included
        self.shown = ""

    # -- helpers
    def clamp(self, ename: str, pname: str, value: float, phrase: str) -> float:
        phrase = self.shown or phrase
        p: Param = EFFECTS[ename].param(pname)
        if value < p.low or value > p.high:
            clamped = min(p.high, max(p.low, value))
            self.r.notes.append(f"'{phrase}': {ename}.{pname} {value:g} is outside {p.range_text()}, clamped to {clamped:g}")
            return clamped
        return value

    def set(self, ename: str, pname: str, value: float, phrase: str) -> None:
        value = self.clamp(ename, pname, value, phrase)
        item = Override(ename, pname, value, self.shown or phrase)
        self.positions[id(item)] = self.pos
        self.r.overrides.append(item)

    def eq(self, band_type: str, freq: float, gain: float, q: float | None, phrase: str) -> None:
        freq = self.clamp("eq", "band1_freq_hz", freq, phrase)
        gain = self.clamp("eq", "band1_gain_db", gain, phrase)
        if q is not None:
            q = self.clamp("eq", "band1_q", q, phrase)
        item = EqMove(band_type, freq, gain, q, self.shown or phrase)
        self.positions[id(item)] = self.pos
        self.r.eq.append(item)

    def signed(self, m: re.Match, amount: float, number: str = "n") -> float:
        """``|amount|`` with the direction :func:`amount_direction` finds (up when nothing says);
        notes then quote the amount with its direction word ("down 5 semitones")."""
        sign, lo, hi = amount_direction(self.current, m, number)
        self.shown = self.current[lo:hi].replace("\x00", " ").strip()
        return -abs(amount) if sign is not None and sign < 0 else abs(amount)

    def flag(self, ename: str, on: bool) -> None:
        target = self.r.enable if on else self.r.disable
        if ename not in target:
            target.append(ename)

    # -- handlers (each gets the match and the matched phrase)
    def pitch_dir(self, m: re.Match, phrase: str) -> None:
        n = 1.0 if m.group("n") in ("a", "an") else _n(m.group("n"))
        self.pitch(self.signed(m, n), phrase)

    pitch_signed = pitch_dir

    def octave(self, m: re.Match, phrase: str) -> None:
        raw = m.group("n")
        n = 1.0 if raw in (None, "", "a", "an") else _n(raw)
        if m.groupdict().get("half"):  # "an octave and a half"
            n += 0.5
        if "dir" not in m.groupdict() and amount_sign(self.current, m) is None:
            return  # "an octave" with no direction is not a pitch shift ("an octave wide")
        self.pitch(12.0 * self.signed(m, n), phrase)

    def pitch(self, semitones: float, phrase: str) -> None:
        self.set("pitch", "semitones", semitones, phrase)

    def eq_peak(self, m: re.Match, phrase: str) -> None:
        self.eq("peak", _f(m), self.signed(m, _n(m.group("g")), "g"), _q(m), phrase)

    def high_pass(self, m: re.Match, phrase: str) -> None:
        self.eq("high_pass", _f(m), 0.0, _q(m), phrase)

    def low_pass(self, m: re.Match, phrase: str) -> None:
        self.eq("low_pass", _f(m), 0.0, _q(m), phrase)

    def shelf(self, m: re.Match, phrase: str) -> None:
        g = self.signed(m, _n(m.group("g")), "g")
        region = m.group("band")
        eq = effect("eq")
        if region in ("bass", "lows", "low end", "bottom end"):
            band_type, band = "low_shelf", 0
        elif region in ("treble", "highs", "high end", "top end", "top"):
            band_type, band = "high_shelf", 4
        elif region in ("low mids", "low-mids", "lower mids"):
            band_type, band = "peak", 1
        else:
            band_type, band = "peak", 2
        freq = float(eq.default_of(eq.param("band1_freq_hz"), band))
        self.eq(band_type, freq, g, _q(m), phrase)

    def wet(self, m: re.Match, phrase: str) -> None:
        n = abs(_n(m.group("n")))
        pct = "pct" in m.groupdict() and m.group("pct")
        value = n / 100.0 if (pct or n > 1.0) else n
        self.set("reverb", "wet", self.signed(m, value), phrase)  # "-40% wet": clamped with a note

    def reverb_time(self, m: re.Match, phrase: str) -> None:
        seconds = _n(m.group("n"))
        unit = m.group("u") if "u" in m.groupdict() else None
        if unit and unit.startswith("m"):
            seconds /= 1000.0
        p = EFFECTS["reverb"].param("room_size")
        lo, hi = room_size_to_t60_s(p.low), room_size_to_t60_s(p.high)
        if not lo <= seconds <= hi:
            clamped = min(hi, max(lo, seconds))
            self.r.notes.append(f"'{phrase}': a decay of {seconds:g} s is outside {lo:g}–{hi:g} s, using {clamped:g} s")
            seconds = clamped
        self.set("reverb", "room_size", min(p.high, max(p.low, t60_s_to_room_size(seconds))), phrase)

    def pre_delay(self, m: re.Match, phrase: str) -> None:
        self.set("reverb", "pre_delay_ms", _ms(m), phrase)

    def drive(self, m: re.Match, phrase: str) -> None:
        self.set("distortion", "drive_db", _n(m.group("n")), phrase)

    def ratio(self, m: re.Match, phrase: str) -> None:
        self.set("compressor", "ratio", _n(m.group("n")), phrase)
        if m.group("t"):
            self.set("compressor", "threshold_db", _n(m.group("t")), phrase)

    def threshold(self, m: re.Match, phrase: str) -> None:
        value = _n(m.group("n"))
        if value > 0:
            self.r.notes.append(f"'{phrase}': a threshold is below 0 dB, read as {-value:g} dB")
            value = -value
        self.set("compressor", "threshold_db", value, phrase)

    def attack(self, m: re.Match, phrase: str) -> None:
        self.set("compressor", "attack_ms", _ms(m), phrase)

    def release(self, m: re.Match, phrase: str) -> None:
        self.set("compressor", "release_ms", _ms(m), phrase)

    def makeup(self, m: re.Match, phrase: str) -> None:
        self.set("compressor", "makeup_db", _n(m.group("n")), phrase)

    def gain(self, m: re.Match, phrase: str) -> None:
        self.set("output", "gain_db", self.signed(m, _n(m.group("n"))), phrase)

    def interval(self, m: re.Match, phrase: str) -> None:
        size = interval_semitones(m.group("qual"), m.group("deg"))
        if size is None:
            self.r.notes.append(f"'{phrase}': no such interval; the pitch is left to the model")
            return
        self.pitch(self.signed(m, size), phrase)

    octave_verb = octave

    def wet_ctx(self, m: re.Match, phrase: str) -> None:
        # "mix 30%", "wet 0.3": only when the prompt talks about reverb or the phrase says "wet"
        if "reverb" in self.text or "wet" in phrase:
            self.wet(m, phrase)

    def off(self, ename: str) -> Callable[[re.Match, str], None]:
        return lambda m, phrase: self.flag(ename, False)

    def on(self, ename: str) -> Callable[[re.Match, str], None]:
        return lambda m, phrase: self.flag(ename, True)


def _q(m: re.Match) -> float | None:
    return float(m.group("q")) if "q" in m.groupdict() and m.group("q") else None


HALF = r"(?P<half>\s+and\s+a\s+half)?"
QOPT = r"(?:\s*,?\s*(?:with\s+)?(?:an?\s+)?q\s*(?:of|=|:)?\s*(?P<q>\d+(?:\.\d+)?))?"
_SUBJ = r"(?:\s+(?:it|this|everything|the\s+pitch|the\s+key|the\s+vocals?|the\s+voice|my\s+voice))?"
_OFF = r"(?:no|without|zero|remove(?:\s+the)?|turn\s+off(?:\s+the)?|disable(?:\s+the)?|kill(?:\s+the)?|skip(?:\s+the)?|drop(?:\s+the)?|bypass(?:\s+the)?)\s+(?:any\s+|all\s+)?"

# (regex, handler name or (handler, effect)) in the order they are tried; each match is blanked
# out of the text before the next pattern runs, so more specific patterns come first.
_PATTERNS: list[tuple[str, str | tuple[str, str]]] = [
    # ---- enable/disable
    (rf"\b{_OFF}(?:reverb|reverberation|room|ambience)\b", ("off", "reverb")),
    (r"\breverb\s+off\b", ("off", "reverb")),
    (r"\bkeep\s+(?:it|this|everything|them|the\s+\w+)\s+(?:completely\s+|totally\s+|bone\s+|100%\s+)?dry\b", ("off", "reverb")),
    (r"\b(?:completely|totally|bone)[\s-]dry\b", ("off", "reverb")),
    (rf"\b{_OFF}(?:distortion|overdrive|saturation|fuzz|drive)\b", ("off", "distortion")),
    (r"\b(?:distortion|drive)\s+off\b", ("off", "distortion")),
    (rf"\b{_OFF}(?:compression|compressor|limiting|limiter)\b", ("off", "compressor")),
    (r"\bcompressor\s+off\b", ("off", "compressor")),
    (rf"\b{_OFF}(?:pitch[\s-]?shift(?:ing)?|pitch\s+change)\b", ("off", "pitch")),
    (r"\b(?:keep|don'?t\s+change|do\s+not\s+change)\s+the\s+(?:pitch|key)\b", ("off", "pitch")),
    (rf"\b{_OFF}(?:eq|equali[sz]ation|equali[sz]er)\b", ("off", "eq")),
    # ---- pitch
    (rf"\b(?P<dir>up|down)\s+(?:by\s+)?(?P<n>an?|{NUM})?\s*octaves?{HALF}\b", "octave"),
    (rf"\b(?P<n>an?|{NUM})?\s*octaves?{HALF}\s+(?P<dir>up|down|higher|lower|above|below)\b", "octave"),
    (r"\b(?:raise|lower|drop|shift|pitch|transpose)(?P<dir>)" + _SUBJ + rf"\s+(?:by\s+)?(?P<n>an?|{NUM})\s+octaves?{HALF}\b", "octave_verb"),
    (rf"\b(?P<n>an?|{NUM})\s*octaves?{HALF}\b", "octave"),
    (r"\b(?:pitch|transpose|shift|tune|move)(?:[\s-]shift)?" + _SUBJ + rf"\s+(?P<dir>up|down)\s+(?:by\s+)?(?P<n>an?|{NUM})\s*{SEMI}", "pitch_dir"),
    (r"\b(?:pitch|transpose|shift|tune)(?:[\s-]shift)?" + _SUBJ + rf"\s+(?P<dir>up|down)\s+(?:by\s+)?(?P<n>{NUM})\b(?!\s*(?:db|hz|khz|k|%|percent|ms|s|secs?|seconds?|x|times|:)(?:\b|$))", "pitch_dir"),
    (r"\b(?P<dir>raise|lower|drop|increase|decrease)" + _SUBJ + rf"\s+(?:by\s+)?(?P<n>an?|{NUM})\s*{SEMI}", "pitch_dir"),
    (rf"\b(?P<n>an?|{NUM})\s*{SEMI}\s+(?P<dir>up|down|higher|lower)\b", "pitch_dir"),
    (r"\b(?P<verb>raise|lower|drop|shift|pitch|transpose|tune|move)" + _SUBJ
     + rf"\s+(?:(?P<dir>up|down)\s+)?(?:by\s+)?(?:an?|1)\s+{INTERVAL}", "interval"),
    (rf"\b(?P<dir>up|down)\s+(?:by\s+)?(?:an?|1)\s+{INTERVAL}", "interval"),
    (rf"\b(?:an?|1)\s+{INTERVAL}\s+(?P<dir>up|down|higher|lower|above|below)\b", "interval"),
    (rf"(?:\bpitch(?:[\s-]?shift)?\s*(?:of|by|to|=|:)?\s*)?(?P<n>[+-]\s?{NUM})\s*(?:{SEMI}|st)\b", "pitch_signed"),
    (rf"(?:\bpitch(?:[\s-]?shift)?\s*(?:of|by|to|=|:)?\s*)?(?<![\d.])(?P<n>{NUM})\s*{SEMI}", "pitch_signed"),
    (rf"\bpitch(?:[\s-]?shift)?\s*(?:of|by|to|=|:)?\s*(?P<n>[+-]\s?{NUM})\b(?!\s*(?:db|hz|k|%|ms))", "pitch_signed"),
    # ---- EQ
    (rf"\b(?:high[\s-]?pass|hpf|low[\s-]?cut|lo[\s-]?cut)(?:\s+filter)?(?:\s+(?:it|this|everything))?\s*(?:at|@|from|of|around|to|=|:)?\s*{FREQ}{QOPT}", "high_pass"),
    (rf"\b(?:cut|roll(?:\s+|-)?off|remove|filter\s+out|get\s+rid\s+of)\s+(?:everything\s+|all\s+|the\s+lows?\s+|the\s+bass\s+)?(?:below|under)\s+{FREQ}", "high_pass"),
    (rf"\b(?:low[\s-]?pass|lpf|high[\s-]?cut|hi[\s-]?cut)(?:\s+filter)?(?:\s+(?:it|this|everything))?\s*(?:at|@|from|of|around|to|=|:)?\s*{FREQ}{QOPT}", "low_pass"),
    (rf"\b(?:cut|roll(?:\s+|-)?off|remove|filter\s+out|get\s+rid\s+of)\s+(?:everything\s+|all\s+|the\s+highs?\s+|the\s+treble\s+)?(?:above|over)\s+{FREQ}", "low_pass"),
    (rf"\b(?P<verb>boost|cut|raise|lower|reduce|add|increase|decrease|drop|lift|bump|attenuate|turn\s+up|turn\s+down)\s+(?:the\s+)?(?P<band>bass|lows|low end|bottom end|treble|highs|high end|top end|top|low mids|low-mids|lower mids|mids|midrange|middle)\s+(?:by\s+)?(?P<g>{NUM}){DB}{QOPT}", "shelf"),
    (rf"\b(?:the\s+)?(?P<band>bass|lows|low end|treble|highs|high end|top end|low mids|mids|midrange)\s+(?P<verb>up|down|minus|plus)\s+(?:by\s+)?(?P<g>{NUM}){DB}{QOPT}", "shelf"),
    (rf"(?P<g>[+-]?\s?{NUM}){DB}\s+(?:on|to|of|in)\s+the\s+(?P<verb>)(?P<band>bass|lows|low end|treble|highs|high end|top end|low mids|mids|midrange)\b{QOPT}", "shelf"),
    (rf"\b(?P<verb>cut|boost|reduce|lower|raise|increase|attenuate|bump|lift|dip|drop|pull|scoop|add|decrease)\s+(?:the\s+)?(?:area\s+(?:around|at)\s+)?{FREQ}(?:\s+(?:region|range|area|band))?\s+(?:by\s+|down\s+by\s+|up\s+by\s+)?(?P<g>{NUM}){DB}{QOPT}", "eq_peak"),
    (rf"(?:\b(?P<verb>cut|boost|reduce|lower|raise|add|bump|lift|dip|drop|pull|scoop|attenuate)\s+(?:by\s+)?)?(?:an?\s+)?(?P<g>[+-]?\s?{NUM}){DB}\s*(?P<noun>boost|cut|dip|bump|lift|reduction)?\s*(?:at|@|around|near|on|in)\s+{FREQ}{QOPT}", "eq_peak"),
    (rf"{FREQ}\s+(?P<dir>up|down|minus|plus)\s+(?:by\s+)?(?P<g>{NUM}){DB}{QOPT}", "eq_peak"),
    # ---- reverb
    (rf"(?P<n>{NUM})\s*(?P<pct>%|percent)\s*(?:wet|mix)\b(?:\s+reverb)?", "wet"),
    (rf"(?P<n>{NUM})\s*(?P<pct>%|percent)\s+(?:of\s+)?reverb\b", "wet"),
    (rf"\breverb\s+(?:at\s+)?(?P<n>{NUM})\s*(?P<pct>%|percent)(?:\s*wet)?", "wet"),
    ((rf"\b(?:reverb\s+(?:mix|wet(?:ness)?|send|level|amount)|wet(?:ness)?(?:\s+(?:level|amount|mix))?|mix)"
      rf"{OF}(?:minus\s+|plus\s+)?(?P<n>[+-]?\s?{NUM})\s*(?P<pct>%|percent)?(?!\s*(?:db|hz|k|ms|s)\b)(?=\s|$|[,.;!?\x00])"), "wet_ctx"),
    (rf"(?P<n>{NUM})\s*(?:-\s*)?(?P<u>ms|s|secs?|seconds?)\s+(?:long\s+)?(?:reverb|tail|decay|reverb\s+tail|reverb\s+decay)\b", "reverb_time"),
    (rf"\b(?:reverb\s+time|reverb\s+length|decay\s+time|decay|rt60|t60|rt\s?60|reverb\s+tail|tail|reverb\s+decay)\s*(?:of|at|to|=|:|is)?\s*(?P<n>{NUM})\s*(?P<u>ms|s|secs?|seconds?)\b", "reverb_time"),
    (rf"\bpre[\s-]?delay{OF}(?P<n>{NUM}){MS}", "pre_delay"),
    (rf"(?P<n>{NUM}){MS}\s+(?:of\s+)?pre[\s-]?delay\b", "pre_delay"),
    # ---- distortion
    (rf"\b(?:drive|overdrive|distortion|saturation|distortion\s+drive)(?:\s+amount)?{OF}(?P<n>{NUM}){DB}", "drive"),
    (rf"(?P<n>{NUM}){DB}\s+(?:of\s+)?(?:drive|overdrive|distortion|saturation)\b", "drive"),
    # ---- compressor
    (rf"\bmake[\s-]?up(?:\s+gain)?{OF}(?P<n>[+-]?{NUM}){DB}", "makeup"),
    (rf"(?P<n>{NUM}){DB}\s+(?:of\s+)?make[\s-]?up(?:\s+gain)?\b", "makeup"),
    (rf"\bratio{OF}(?P<n>{NUM})(?:\s*(?::|to)\s*1\b)?{AT_THRESHOLD}", "ratio"),
    (rf"(?<![\d.:])(?P<n>{NUM})\s*(?::|to)\s*1\b(?:\s*(?:ratio|compression|compressor|limiting))?{AT_THRESHOLD}",
     "ratio"),
    (rf"\bthreshold{OF}(?P<n>[+-]?\s?{NUM})\s*(?:db(?:fs)?\b)?", "threshold"),
    (rf"\battack(?:\s+time)?{OF}(?P<n>{NUM}){MS}", "attack"),
    (rf"(?P<n>{NUM}){MS}\s+attack\b", "attack"),
    (rf"\brelease(?:\s+time)?{OF}(?P<n>{NUM}){MS}", "release"),
    (rf"(?P<n>{NUM}){MS}\s+release\b", "release"),
    # ---- output
    (rf"\b(?:turn|bring|boost|raise|push|crank)\s+(?:it|this|everything|the\s+(?:level|volume|output|gain))\s+up\s+(?:by\s+)?(?P<n>{NUM}){DB}", "gain"),
    (rf"\b(?:turn|bring|lower|pull|drop)\s+(?:it|this|everything|the\s+(?:level|volume|output|gain))\s+down\s+(?:by\s+)?(?P<n>{NUM}){DB}", "gain"),
    (rf"\b(?:reduce|lower|cut|decrease|drop|attenuate)\s+{LEVEL_WORD}\s+(?:by\s+)?(?P<n>{NUM}){DB}", "gain"),
    (rf"\b(?:increase|raise|boost|lift)\s+{LEVEL_WORD}\s+(?:by\s+)?(?P<n>{NUM}){DB}", "gain"),
    (rf"\b(?:output|volume|level|output\s+gain|output\s+level|master\s+gain|master\s+volume|gain)(?:\s+(?P<dir>up|down|minus|plus))?{OF}(?:by\s+)?(?P<n>[+-]?\s?{NUM}){DB}", "gain"),
    (rf"(?P<n>{NUM}){DB}\s+(?P<dir>louder|quieter|softer|more\s+(?:level|volume|gain)|less\s+(?:level|volume|gain)|up|down)\b", "gain"),
    (rf"\b(?P<dir>louder|quieter|softer)\s+by\s+(?P<n>{NUM}){DB}", "gain"),
    # ---- plain enables (after the value patterns, which enable by themselves)
    (r"\b(?:add|with|put|apply|use)\s+(?:some\s+|a\s+little\s+|a\s+bit\s+of\s+|a\s+touch\s+of\s+|a\s+lot\s+of\s+|lots\s+of\s+)?(?:reverb|reverberation)\b", ("on", "reverb")),
    (r"\b(?:add|with|put|apply|use)\s+(?:some\s+|a\s+little\s+|a\s+bit\s+of\s+|a\s+touch\s+of\s+|a\s+lot\s+of\s+|lots\s+of\s+)?(?:distortion|overdrive)\b", ("on", "distortion")),
    (r"\b(?:add|with|put|apply|use)\s+(?:some\s+|a\s+little\s+|a\s+bit\s+of\s+|a\s+touch\s+of\s+|a\s+lot\s+of\s+|lots\s+of\s+)?(?:compression|a\s+compressor)\b", ("on", "compressor")),
]
_COMPILED = [(re.compile(rx), h) for rx, h in _PATTERNS]
#: Every pattern above needs a digit or one of these words; prompts without any skip the parse.
_TRIGGER = re.compile(r"\d|octave|reverb|room|ambience|dry|distort|overdrive|saturation|fuzz|drive|compress|limit"
                      r"|pitch|key|\beq\b|equali|semi|half|second|2nd|third|3rd|fourth|4th|fifth|5th|sixth|6th"
                      r"|seventh|7th|tritone|whole")

#: Words that may stand around explicit values without asking for anything more ("please add a
#: high-pass at 80 Hz to the vocals"): a prompt with nothing else is ``complete``.
_FILLER = frozenset("""
a an the and then also plus with please just only but so it its it's this that these those them everything all
to on of in at for by from my our your me us i we you can could would will want need like let's lets
add apply use put give make do set go get some bit little touch
audio sound track tracks recording recordings file files clip clips song songs mix stem stems
voice vocal vocals vox dialogue dialog speech narration podcast guitar drums drum piano synth
""".split())


def parse_explicit(prompt: str) -> ExplicitValues:
    """Read the explicit values of ``prompt`` (see the module docstring for the phrasings).

    Octaves count 12 semitones; shifts beyond ±12 semitones clamp with a note. Reverb decay
    times set ``room_size`` by the inverse of T60 = 0.15 s × 60**room_size.
    """
    result = ExplicitValues()
    text = normalize_prompt(prompt)
    if not _TRIGGER.search(text):
        return result
    parser = _Parser(result, text)
    for rx, handler in _COMPILED:
        while True:
            m = rx.search(text)
            if m is None:
                break
            phrase = m.group(0).strip()
            parser.pos = m.start()
            parser.current = text
            parser.shown = ""
            if isinstance(handler, tuple):
                getattr(parser, handler[0])(handler[1])(m, phrase)
            else:
                getattr(parser, handler)(m, phrase)
            # blank the match out with a non-space filler: positions stay, nothing spans it
            text = text[: m.start()] + "\x00" * (m.end() - m.start()) + text[m.end():]
    leftover = re.findall(r"[a-z0-9']+", text.replace("\x00", " "))
    # values make a request complete; bare switches ("add reverb", "no reverb") leave the amounts
    # to the model
    result.complete = bool(result.overrides or result.eq) and all(w in _FILLER for w in leftover)
    # in the order the prompt states them: the last statement of a parameter wins
    result.overrides.sort(key=lambda o: parser.positions[id(o)])
    result.eq.sort(key=lambda e: parser.positions[id(e)])
    _note_conflicts(result)
    conflicts = sorted({o.effect for o in result.overrides} & set(result.disable))
    for name in conflicts:
        result.notes.append(f"{name} is both set and switched off in the prompt; it stays off")
    return result


def _note_conflicts(result: ExplicitValues) -> None:
    """A note for each parameter the prompt sets to different values ("pitch up 3 and down 5
    semitones"): the last statement wins, and the note says which one."""
    by_param: dict[tuple[str, str], list[Override]] = {}
    for o in result.overrides:
        by_param.setdefault((o.effect, o.param), []).append(o)
    for (ename, pname), items in by_param.items():
        if len({o.value for o in items}) > 1:
            asked = ", ".join(f"'{o.phrase}' = {o.value:g}" for o in items)
            result.notes.append(f"the prompt sets {ename}.{pname} more than once ({asked}); the last one, "
                                f"{items[-1].value:g}, is used")
