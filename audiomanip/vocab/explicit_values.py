"""What a prompt states explicitly (:class:`ExplicitValues`, found by
:func:`audiomanip.vocab.explicit.parse_explicit`) and how it is written over a preset.

:meth:`ExplicitValues.apply` sets the stated parameters, switches effects on or off and places
EQ requests by the band convention of ``presets/descriptors.yaml``: a high-pass goes to the lows
band, a low-pass to the highs band, a peak to a peak band already near that frequency or to a
free (flat) band, so the rest of the predicted EQ is kept. A prompt that says nothing but
explicit values is :attr:`ExplicitValues.complete`, and :meth:`ExplicitValues.resolve` starts
from the neutral preset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from audiomanip.params import EFFECTS, Preset, effect, room_size_to_t60_s


#: Threshold of a compressor that a prompt switches on with a ratio, attack … but no threshold (dB).
IMPLIED_THRESHOLD_DB = -18.0

# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Override:
    """One parameter set to a value (physical units, already clamped to the schema)."""

    effect: str
    param: str
    value: float
    phrase: str = ""


@dataclass(frozen=True)
class EqMove:
    """One EQ request: a band of ``band_type`` at ``freq_hz`` (gain in dB for shelves and peaks;
    ``q`` None keeps a reused band's Q or uses 1.0 for a peak, 0.707 otherwise)."""

    band_type: str
    freq_hz: float
    gain_db: float = 0.0
    q: float | None = None
    phrase: str = ""


@dataclass
class ExplicitValues:
    """What a prompt states explicitly.

    ``overrides``: parameters set to exact values; ``eq``: EQ band requests; ``enable`` /
    ``disable``: effects switched on or off ("add reverb", "no distortion"); ``notes``:
    clamps and interpretations worth telling the user.
    """

    overrides: list[Override] = field(default_factory=list)
    eq: list[EqMove] = field(default_factory=list)
    enable: list[str] = field(default_factory=list)
    disable: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: True when the prompt states at least one value and nothing else (but filler words such as
    #: "please", "add", "the vocals", and switches such as "no reverb"): nothing is left for a
    #: model to interpret.
    complete: bool = False

    def __bool__(self) -> bool:
        return bool(self.overrides or self.eq or self.enable or self.disable)

    def value(self, effect_name: str, param: str) -> float | None:
        """The last override of ``effect_name.param``, or None."""
        found = [o.value for o in self.overrides if o.effect == effect_name and o.param == param]
        return found[-1] if found else None

    def apply(self, preset: Preset) -> Preset:
        """A copy of ``preset`` with these values written over it.

        Setting a parameter enables its effect; ``disable`` wins over everything else for its
        effect. EQ requests keep the other bands (see the module docstring).
        """
        out = preset.copy()
        compressor_was_on = out.enabled["compressor"]
        for o in self.overrides:
            out.set(o.effect, o.param, o.value)
        set_here = {(o.effect, o.param) for o in self.overrides}
        if (not compressor_was_on and out.enabled["compressor"]
                and ("compressor", "threshold_db") not in set_here):
            # "4:1 compression" switched on a compressor whose threshold (0 dB by default) would
            # never be reached: start compressing where a typical mix sits
            out.values["compressor"]["threshold_db"] = IMPLIED_THRESHOLD_DB
        if self.eq:
            if not out.enabled["eq"]:
                eq = effect("eq")
                for fname, p, b in eq.flat_params():
                    out.values["eq"][fname] = eq.default_of(p, b)
                out.enabled["eq"] = True
            for move in self.eq:
                place_eq(out, move)
        for name in self.enable:
            out.enabled[name] = True
        for name in self.disable:
            out.enabled[name] = False
        return out

    def resolve(self, predicted: Preset) -> Preset:
        """The preset to use for a prompt whose model prediction is ``predicted``: these values
        over the prediction, or over the neutral preset when the prompt is :attr:`complete`."""
        return self.apply(Preset.default() if self.complete else predicted)

    def describe(self) -> list[str]:
        """One human line per explicit value, e.g. ``pitch.semitones = -3``."""
        lines = []
        for o in self.overrides:
            unit = EFFECTS[o.effect].param(o.param).unit
            shown = f"{o.value:g}:1" if unit == ":1" else f"{o.value:g} {unit}".strip()
            if (o.effect, o.param) == ("reverb", "room_size"):
                shown += f" (T60 {room_size_to_t60_s(o.value):.2g} s)"
            lines.append(f"{o.effect}.{o.param} = {shown}")
        for m in self.eq:
            gain = f" {m.gain_db:+g} dB" if m.band_type not in ("low_pass", "high_pass") else ""
            q = f" Q {m.q:g}" if m.q is not None else ""
            lines.append(f"eq {m.band_type.replace('_', '-')} at {m.freq_hz:g} Hz{gain}{q}")
        lines += [f"{name} on" for name in self.enable]
        lines += [f"{name} off" for name in self.disable]
        return lines


# ---------------------------------------------------------------------------- EQ placement
def place_eq(preset: Preset, move: EqMove) -> None:
    """Write ``move`` into one band of ``preset``'s (enabled) EQ, keeping the other bands."""
    from audiomanip.vocab.recipes import PASS_TYPES, conventions

    roles = conventions().bands
    vals = preset.values["eq"]

    def key(b: int, stem: str) -> str:
        return f"band{b}_{stem}"

    def is_flat(b: int) -> bool:
        return vals[key(b, "type")] not in PASS_TYPES and abs(float(vals[key(b, "gain_db")])) < 0.05

    def octaves(a: float, b: float) -> float:
        return abs(math.log2(a / b))

    bands = [r.band for r in roles]
    chosen: int | None = None
    if move.band_type in PASS_TYPES:
        same = [b for b in bands if vals[key(b, "type")] == move.band_type]
        home = [r.band for r in roles if move.band_type in r.types]
        order = same + [b for b in home if is_flat(b)]
        flat = [b for b in bands if is_flat(b)]
        order += sorted(flat, reverse=move.band_type == "low_pass")
    elif move.band_type in ("low_shelf", "high_shelf"):
        same = [b for b in bands if vals[key(b, "type")] == move.band_type and not is_flat(b)]
        home = [r.band for r in roles if move.band_type in r.types]
        order = same + [b for b in home if is_flat(b)]
        flat = [b for b in bands if is_flat(b)]
        order += sorted(flat, reverse=move.band_type == "high_shelf")
    else:
        near = [b for b in bands if vals[key(b, "type")] == "peak" and not is_flat(b)
                and octaves(float(vals[key(b, "freq_hz")]), move.freq_hz) <= 1.0 / 3.0]
        near.sort(key=lambda b: octaves(float(vals[key(b, "freq_hz")]), move.freq_hz))
        flat = [b for b in bands if is_flat(b)]
        fits = [r.band for r in roles if "peak" in r.types and r.band in flat
                and r.freq_range_hz[0] <= move.freq_hz <= r.freq_range_hz[1]]
        fits.sort(key=lambda b: octaves(float(preset_default_freq(b)), move.freq_hz))
        rest = sorted(flat, key=lambda b: octaves(float(preset_default_freq(b)), move.freq_hz))
        order = near + fits + rest
    if order:
        chosen = order[0]
    else:
        # every band is busy: replace the shelf/peak band doing the least
        gains = [b for b in bands if vals[key(b, "type")] not in PASS_TYPES]
        chosen = min(gains or bands, key=lambda b: abs(float(vals[key(b, "gain_db")])))
        preset.notes.append(f"EQ band {chosen} replaced to make room for '{move.phrase}'")
    reused = vals[key(chosen, "type")] == move.band_type and not is_flat(chosen)
    if move.q is not None:
        q = move.q
    elif reused:
        q = float(vals[key(chosen, "q")])
    else:
        q = 1.0 if move.band_type == "peak" else 0.707
    vals[key(chosen, "type")] = move.band_type
    vals[key(chosen, "freq_hz")] = move.freq_hz
    vals[key(chosen, "gain_db")] = 0.0 if move.band_type in PASS_TYPES else move.gain_db
    vals[key(chosen, "q")] = q


def preset_default_freq(band: int) -> float:
    """The schema's default frequency of EQ band ``band`` (1-based), in Hz."""
    eq = effect("eq")
    return float(eq.default_of(eq.param("band1_freq_hz"), band - 1))
