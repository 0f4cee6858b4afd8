"""Editing a preset with words: "a bit less reverb, brighter" moves a preset, it does not replace it.

An edit prompt is split into clauses (commas, ";", "and", "but"). Each clause is either

* **explicit** (``audiomanip.vocab.explicit.parse_explicit`` finds a value or a switch in it:
  "reverb 30% wet", "no distortion"): those values are written over the moved preset at the
  end, so they override exactly; or
* **a word move**: an intensity/direction phrase and a word of the corpus. The word is a
  descriptor form of ``presets/descriptors.yaml`` ("brighter", "boxy", "air") or an effect
  word of ``presets/edits.yaml`` ("reverb" -> the ``hall`` recipe, wet 0.3; its ``opposites`` such
  as "drier" ask for less of one). The phrase before it
  gives a signed factor from ``presets/modifiers.yaml`` ("a bit" 0.55, plain 1, "much" 1.4,
  "more" 1.2, "a bit more" 0.55, "less" -0.6, "a bit less" -0.35, "much less" -1) or from
  ``edits.yaml`` ``removals`` ("no mud", "un-muddy": -1).

A move of factor ``f`` by a recipe ``R`` works in the schema's normalised space
(:meth:`audiomanip.params.Param.normalize`, every value in [0, 1]):

* amount parameters (those with a neutral value: gains, drive, ratio, threshold, make-up, wet,
  semitones) move by ``f * (u(R) - u(neutral))`` from where the preset has them, clipped to
  [0, 1]. Moves therefore add: an edit of an edit equals one edit with both moves, unless a
  value reached the end of its range;
* shape parameters (room size, times, frequencies, Q, colour, band types) keep the preset's
  values; they come from the recipe only where the effect (or EQ band) was off or flat;
* an EQ band the preset uses as a pass filter moves its cut-off instead of a gain (a brighter
  edit opens a low-pass, a "more bass" edit lowers a high-pass) by the same normalised step;
* an effect whose amounts all reach neutral is switched off; a negative move on an effect
  that is off, or one that hits the end of a range, gives a one-line note.

Words the corpus does not know are refused with a note (close corpus words suggested) and
move nothing. Measured with the shipped model (``benchmarks/edit_model_delta.py``, README
"Editing a preset with words"): the model's prediction minus its neutral prediction points the
wrong way for negations ("less distortion" switches on 25 dB of drive, "less crunchy" nearly as
much as "crunchier") and for unseen words ("sparklier" cuts the highs), and "less reverb" gives
no graded move, so it is not used as a move.

Runtime code: imports neither torch nor training/evaluation code.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from audiomanip.vocab.corpus_files import load_yaml
from audiomanip.vocab.descriptors import load_descriptors, load_modifiers
from audiomanip.vocab.recipes import PASS_TYPES, Recipe, conventions
from audiomanip.vocab.explicit import parse_explicit
from audiomanip.errors import PresetFileError, PromptError
from audiomanip.params import EFFECTS, SCHEMA, Param, Preset

#: Normalised moves smaller than this count as "nothing moved" (for the notes).
_EPS = 1e-6
_CLAUSE_SPLIT = re.compile(r"\s*(?:[,;]|\bbut\b|\band\b|\bthen\b)\s*")
_LEADING_FILLER = re.compile(
    r"^(?:(?:please|just|now|also|make|made|it|this|that|sound|sounds|give|add|with|the|a\s+lot)\s+)*"
)


@dataclass(frozen=True)
class EditWord:
    """A word an edit can move by: its surface ``form``, the descriptor name and its recipe;
    ``opposite`` words ("drier") ask for less of the recipe."""

    form: str
    descriptor: str
    recipe: Recipe
    opposite: bool = False


@dataclass
class EditResult:
    """The outcome of one edit prompt.

    ``preset``: the moved preset; ``moves``: one human line per word move
    (``"brighter (x1)"``); ``explicit``: the explicit values applied (``"reverb.wet = 0.3"``);
    ``notes``: one line per request the chain could not satisfy or a word not understood.
    """

    preset: Preset
    moves: list[str] = field(default_factory=list)
    explicit: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- vocabulary
@functools.cache
def edit_words() -> dict[str, EditWord]:
    """Every word an edit understands, by surface form (lower case): descriptor forms and the
    effect words of ``presets/edits.yaml``."""
    descriptors = load_descriptors()
    words = {f: EditWord(f, d.name, d.recipe) for d in descriptors.values() for f in d.forms}
    data = load_yaml("edits.yaml") or {}
    for section, opposite in (("effect_words", False), ("opposites", True)):
        for form, name in (data.get(section) or {}).items():
            if name not in descriptors:
                raise PresetFileError(f"edits.yaml: {section}: {form!r} names unknown descriptor {name!r}")
            if str(form) in words:
                raise PresetFileError(
                    f"edits.yaml: {section}: {form!r} is already a form of {words[form].descriptor!r}"
                )
            words[str(form)] = EditWord(str(form), name, descriptors[name].recipe, opposite)
    return words


@functools.cache
def _factors() -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """(intensity words -> factor, negation phrases -> factor, removal words -> factor)."""
    intensity: dict[str, float] = {}
    negation: dict[str, float] = {}
    for m in load_modifiers():
        (negation if m.kind == "negation" else intensity).setdefault(m.text, m.factor)
    removals = {str(k): float(v) for k, v in ((load_yaml("edits.yaml") or {}).get("removals") or {}).items()}
    return intensity, negation, removals


def edit_factor(phrase: str) -> float | None:
    """The signed factor of the words before an edit word ("" -> 1, "a bit" -> 0.55, "a bit
    more" -> 0.55, "more" -> 1.2, "less" -> -0.6, "much less" -> -1, "no" -> -1); None when
    the phrase is not an intensity or direction phrase of the corpus."""
    phrase = " ".join(phrase.split())
    intensity, negation, removals = _factors()
    if not phrase:
        return 1.0
    for table in (negation, removals, intensity):
        if phrase in table:
            return table[phrase]
    for direction, base in (("more", 1.0), ("less", negation.get("less", -0.6))):
        if phrase.endswith(" " + direction):
            head = phrase[: -len(direction) - 1]
            if head in intensity:
                return intensity[head] * (1.0 if base > 0 else -abs(base))
    return None


# ---------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class WordMove:
    """One clause read as a move: ``word`` scaled by ``factor`` (negative: the other way)."""

    clause: str
    word: EditWord
    factor: float


def split_clauses(prompt: str) -> list[str]:
    """The clauses of an edit prompt, lower case, without empty ones. A corpus word that holds
    a separator ("slowed and reverb") stays whole."""
    text = " ".join(prompt.lower().split())
    joined = [f for f in edit_words() if _CLAUSE_SPLIT.search(f)]
    for i, form in enumerate(joined):
        text = re.sub(rf"\b{re.escape(form)}\b", f"\x00{i}\x00", text)
    clauses = [c.strip(" .!") for c in _CLAUSE_SPLIT.split(text) if c.strip(" .!")]
    return [re.sub(r"\x00(\d+)\x00", lambda m: joined[int(m.group(1))], c) for c in clauses]


def read_clause(clause: str) -> WordMove | None:
    """The word move of one clause, or None when it holds no corpus word with a known
    intensity/direction phrase before it (and nothing after it)."""
    text = _LEADING_FILLER.sub("", clause).strip()
    words = edit_words()
    m = re.fullmatch(r"un-?(.+)", text)
    if m and m.group(1) in words and text not in words:
        return WordMove(clause, words[m.group(1)], _factors()[2].get("un", -1.0))
    for form in sorted(words, key=len, reverse=True):
        if text == form or text.endswith(" " + form):
            factor = edit_factor(_LEADING_FILLER.sub("", text[: len(text) - len(form)].strip()))
            if factor is not None:
                if words[form].opposite:  # "a bit drier" = "a bit" x "less"
                    factor *= -abs(edit_factor("less") or 1.0)
                return WordMove(clause, words[form], factor)
    return None


def _suggest(clause: str) -> str:
    close = difflib.get_close_matches(clause.split()[-1], list(edit_words()), n=3, cutoff=0.75)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


# ---------------------------------------------------------------------------- moving
def _u(p: Param, value: Any) -> float:
    return p.normalize(float(value))


def _is_amount(ename: str, fname: str, p: Param) -> bool:
    return not p.is_choice and p.neutral is not None and (ename, fname) not in conventions().intensity_keeps


def _move_eq(preset: Preset, recipe_eq: Mapping[str, Any], factor: float, label: str, notes: list[str]) -> bool:
    """Move the EQ bands ``recipe_eq`` touches; True when anything moved."""
    eq = EFFECTS["eq"]
    gain_p, freq_p = eq.param("band1_gain_db"), eq.param("band1_freq_hz")
    vals = preset.values["eq"]
    if not preset.enabled["eq"]:  # an EQ that is off is flat: start from the schema's bands
        for fname, p, b in eq.flat_params():
            vals[fname] = eq.default_of(p, b)
    moved, limited = False, False
    bands = sorted({k.split("_", 1)[0] for k in recipe_eq})
    for band in bands:
        tkey, fkey, gkey, qkey = (f"{band}_type", f"{band}_freq_hz", f"{band}_gain_db", f"{band}_q")
        r_type = recipe_eq.get(tkey)
        cur_type = vals[tkey]
        if r_type in PASS_TYPES:
            # "thinner" adds a high-pass, "less thin" opens the one the preset has
            if factor > 0:
                if cur_type == r_type:
                    tighter = max if r_type == "high_pass" else min
                    new = tighter(float(vals[fkey]), float(recipe_eq[fkey]))
                    moved |= abs(new - float(vals[fkey])) > _EPS
                    vals[fkey] = new
                else:
                    vals.update({tkey: r_type, fkey: recipe_eq[fkey], gkey: 0.0, qkey: recipe_eq.get(qkey, vals[qkey])})
                    moved = True
            elif cur_type == r_type:
                open_u = 0.0 if r_type == "high_pass" else 1.0
                u = _u(freq_p, vals[fkey])
                vals[fkey] = freq_p.denormalize(u + min(1.0, -factor) * (open_u - u))
                moved = True
            continue
        step = factor * (_u(gain_p, recipe_eq.get(gkey, 0.0)) - _u(gain_p, 0.0))
        if abs(step) < _EPS:
            continue
        if cur_type in PASS_TYPES:
            # a pass filter has no gain: move its cut-off the same normalised step
            sign = 1.0 if cur_type == "low_pass" else -1.0
            u = _u(freq_p, vals[fkey])
            new_u = min(1.0, max(0.0, u + sign * step))
            limited |= abs(new_u - (u + sign * step)) > _EPS
            moved |= abs(new_u - u) > _EPS
            vals[fkey] = freq_p.denormalize(new_u)
            continue
        if abs(float(vals[gkey])) < 1e-9 and r_type is not None:  # a flat band takes the recipe's shape
            vals.update({tkey: r_type, fkey: recipe_eq.get(fkey, vals[fkey]), qkey: recipe_eq.get(qkey, vals[qkey])})
        u = _u(gain_p, vals[gkey])
        new_u = min(1.0, max(0.0, u + step))
        limited |= abs(new_u - (u + step)) > _EPS
        moved |= abs(new_u - u) > _EPS
        vals[gkey] = gain_p.denormalize(new_u)
    if moved:
        preset.enabled["eq"] = True
    if limited:
        notes.append(f"{label!r}: an EQ value reached the end of its range; moved as far as it goes")
    return moved


def _move_effect(preset: Preset, ename: str, recipe_vals: Mapping[str, Any], factor: float,
                 label: str, notes: list[str]) -> bool:
    """Move one non-EQ effect; True when anything moved."""
    eff = EFFECTS[ename]
    vals = preset.values[ename]
    was_on = preset.enabled[ename]
    if not was_on:
        if factor < 0:
            notes.append(f"{label!r}: the preset has no {ename} to reduce; nothing changed")
            return False
        for fname, p, _ in eff.continuous():  # start from neutral amounts and the recipe's shape
            if _is_amount(ename, fname, p):
                vals[fname] = p.neutral
            elif fname in recipe_vals:
                vals[fname] = recipe_vals[fname]
    moved = limited = False
    for fname, target in recipe_vals.items():
        p = eff.param(fname)
        if not _is_amount(ename, fname, p):
            continue
        step = factor * (_u(p, target) - _u(p, p.neutral))
        u = _u(p, vals[fname])
        new_u = min(1.0, max(0.0, u + step))
        limited |= abs(new_u - (u + step)) > _EPS
        moved |= abs(new_u - u) > _EPS
        vals[fname] = p.denormalize(new_u)
    amounts = [(fname, p) for fname, p, _ in eff.continuous() if _is_amount(ename, fname, p)]
    at_neutral = all(abs(_u(p, vals[f]) - _u(p, p.neutral)) < 1e-4 for f, p in amounts)
    if at_neutral:
        preset.enabled[ename] = False
        if was_on and limited:
            notes.append(f"{label!r}: asked for less {ename} than the preset has; {ename} is now off")
    else:
        preset.enabled[ename] = True
        if limited:
            notes.append(f"{label!r}: {ename} reached the end of its range; moved as far as it goes")
    if was_on and not moved and factor < 0:
        notes.append(f"{label!r}: the preset's {ename} is already at its minimum; nothing changed")
    return moved or was_on != preset.enabled[ename]


def apply_move(preset: Preset, recipe: Recipe, factor: float, label: str = "") -> tuple[Preset, list[str]]:
    """A copy of ``preset`` moved by ``factor`` times ``recipe`` (see the module docstring) and
    the notes for what could not be done. ``label`` names the request in the notes."""
    out = preset.copy()
    notes: list[str] = []
    for ename, flag in recipe.enabled.items():  # switch recipes ("dry"): on/off, inverted by a negative factor
        if ename not in recipe.values or not recipe.values[ename]:
            want = flag if factor > 0 else not flag
            if out.enabled[ename] == want:
                notes.append(f"{label!r}: {ename} is already {'on' if want else 'off'}; nothing changed")
            out.enabled[ename] = want
    for e in SCHEMA:
        rv = recipe.values.get(e.name)
        if not rv or recipe.enabled.get(e.name) is False:
            continue
        if e.name == "eq":
            if not _move_eq(out, rv, factor, label, notes) and factor < 0:
                notes.append(f"{label!r}: the preset's EQ has nothing of this to take away; nothing changed")
        else:
            _move_effect(out, e.name, rv, factor, label, notes)
    return out, notes


def edit_preset(preset: Preset, prompt: str) -> EditResult:
    """Move ``preset`` as ``prompt`` says (see the module docstring); the input is not modified.

    PromptError when the prompt is empty. Explicit values are applied last and override.
    """
    clauses = split_clauses(prompt)
    if not clauses:
        raise PromptError('the edit is empty; say how to change the preset, e.g. "a bit less reverb, brighter"')
    result = EditResult(preset=preset.copy())
    explicit_clauses = []
    for clause in clauses:
        if parse_explicit(clause):
            explicit_clauses.append(clause)
            continue
        move = read_clause(clause)
        if move is None:
            result.notes.append(f"not understood, nothing changed for {clause!r}{_suggest(clause)}")
            continue
        result.preset, notes = apply_move(result.preset, move.word.recipe, move.factor, clause)
        result.notes += notes
        result.moves.append(f"{clause}: {move.word.descriptor} x{move.factor:g}")
    if explicit_clauses:
        values = parse_explicit(", ".join(explicit_clauses))
        result.preset = values.apply(result.preset)
        result.explicit = values.describe()
        result.notes += values.notes
    result.preset.name, result.preset.description = preset.name, preset.description
    result.preset.notes = []
    return result


# ---------------------------------------------------------------------------- the edit chain
def read_edit_chain(data: Any) -> list[dict[str, str]]:
    """The edit chain recorded in a loaded preset document (``{"edits": [{"prompt", "from"}, …]}``);
    empty when there is none. Malformed entries are skipped."""
    if not isinstance(data, Mapping) or not isinstance(data.get("edits"), list):
        return []
    return [
        {"prompt": str(e["prompt"]), "from": str(e.get("from", ""))}
        for e in data["edits"]
        if isinstance(e, Mapping) and isinstance(e.get("prompt"), str)
    ]


def extend_chain(chain: list[dict[str, str]], prompt: str, origin: str) -> list[dict[str, str]]:
    """``chain`` plus this edit: ``origin`` says what was edited (``"preset cathedral"``,
    ``"file out/cathedral_preset.json"``)."""
    return [*chain, {"prompt": " ".join(prompt.split()), "from": origin}]


__all__ = [
    "EditResult",
    "EditWord",
    "WordMove",
    "apply_move",
    "edit_factor",
    "edit_preset",
    "edit_words",
    "extend_chain",
    "read_clause",
    "read_edit_chain",
    "split_clauses",
]
