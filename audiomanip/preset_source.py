"""Where a command's Preset comes from: a prompt (the model), a named preset or a preset file.

Every command accepts exactly one of ``PROMPT``, ``--preset NAME`` or ``--preset-file FILE``.
The model is loaded lazily, once, and only when a prompt is given, so ``--preset`` and
``--preset-file`` never import torch or sentence-transformers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from audiomanip.errors import PresetFileError, PromptError, UsageError
from audiomanip.params import Preset, PresetError


@dataclass
class ResolvedPreset:
    """A Preset and where it came from.

    ``kind`` is ``"prompt"``, ``"named"`` or ``"file"``; ``label`` is the prompt text, the
    preset name or the file path (used for the output slug); ``model`` is the model's
    ``info`` dict for prompts; ``explicit`` lists explicit values taken from the prompt;
    ``notes`` holds messages for the user (clamped or defaulted values, model notes).
    """

    preset: Preset
    kind: str
    label: str
    prompt: str | None = None
    model: dict[str, Any] | None = None
    explicit: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_one_source(prompt: str | None, preset_name: str | None, preset_file: Path | None) -> None:
    """UsageError unless exactly one of the three sources is given."""
    given = [
        n
        for n, v in (("PROMPT", prompt), ("--preset", preset_name), ("--preset-file", preset_file))
        if v is not None
    ]
    if not given:
        raise UsageError("give a PROMPT, --preset NAME or --preset-file FILE")
    if len(given) > 1:
        raise UsageError(f"give only one of PROMPT, --preset, --preset-file (got {' and '.join(given)})")


def load_named(name: str) -> ResolvedPreset:
    """A named preset from the corpus (PresetFileError naming close matches when unknown)."""
    from audiomanip.data.corpus import get_named_preset

    named = get_named_preset(name)
    return ResolvedPreset(
        preset=named.preset.copy(), kind="named", label=named.name, notes=list(named.preset.notes)
    )


def load_file(path: Path, *, clamp: bool = False) -> ResolvedPreset:
    """A preset file (JSON or YAML, also an ``apply`` ``*_preset.json``).

    Out-of-range values are an error unless ``clamp``; then they are clamped and listed in
    ``notes``. Every problem is a PresetFileError with one clear line.
    """
    path = Path(path)
    try:
        preset = Preset.load(path, clamp=clamp)
    except PresetError as exc:
        msg = str(exc)
        if str(path) not in msg:
            msg = f"{path}: {msg}"
        if not clamp and "out of range" in msg:
            msg += " (use --clamp to clamp out-of-range values)"
        raise PresetFileError(msg) from None
    notes = [n for n in preset.notes if "clamped" in n or "unknown" in n]
    notes += _missing_summary(preset.notes)
    return ResolvedPreset(preset=preset, kind="file", label=preset.name or path.stem, notes=notes)


def _missing_summary(notes: list[str], show: int = 6) -> list[str]:
    """One line for the values a preset file left out (filled with defaults) instead of one
    line each: ``Preset.from_dict`` notes ``"eq.band1_q missing: default 0.707 used"`` and
    ``"effect 'pitch' missing: disabled with defaults"``."""
    values = [
        n.split(" missing:", 1)[0] for n in notes if " missing: default" in n and not n.startswith("effect ")
    ]
    effects = [n.split("'")[1] for n in notes if n.startswith("effect '") and " missing:" in n]
    parts = []
    if values:
        more = f" and {len(values) - show} more" if len(values) > show else ""
        parts.append(
            f"{len(values)} value(s) not in the file use their defaults ({', '.join(values[:show])}{more})"
        )
    if effects:
        parts.append(f"effect(s) not in the file keep their defaults: {', '.join(effects)}")
    return ["; ".join(parts)] if parts else []


class PromptPresetter:
    """Turns prompts into presets with the model, loading it on first use.

    ``checkpoint_path``/``checkpoint_dir`` follow ``checkpoint.find_checkpoint``'s rule;
    ``device`` is a resolved torch device string (``"cpu"``, ``"cuda"``).
    """

    def __init__(
        self,
        *,
        checkpoint_path: Path | None = None,
        checkpoint_dir: Path | None = None,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        self.checkpoint_path = checkpoint_path
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.seed = seed
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            from audiomanip.checkpoint import load_model

            if self.seed is not None:
                import torch

                torch.manual_seed(self.seed)
            self._model = load_model(
                checkpoint_path=self.checkpoint_path, checkpoint_dir=self.checkpoint_dir, device=self.device
            )
        return self._model

    @property
    def wants_audio(self) -> bool:
        """True when the model was trained with an audio view (it then reads the input audio)."""
        info = getattr(self.model, "info", {}) or {}
        return str(info.get("audio_view", "none")) != "none"

    def __call__(self, prompt: str, audio: Any = None, sample_rate: int | None = None) -> ResolvedPreset:
        text, notes = clean_prompt(prompt)
        if not text:
            raise PromptError('the prompt is empty; describe the sound, e.g. "warm tape with a small room"')
        from audiomanip.data.unsupported import unsupported_notes

        prediction = self.model.predict(text, audio=audio, sample_rate=sample_rate)
        return ResolvedPreset(
            preset=prediction.preset,
            kind="prompt",
            label=text,
            prompt=text,
            model=dict(getattr(self.model, "info", {}) or {}),
            explicit=list(prediction.explicit),
            notes=notes + unsupported_notes(text) + list(prediction.notes),
        )


def clean_prompt(prompt: str) -> tuple[str, list[str]]:
    """``prompt`` on one line (runs of whitespace become one space) and valid Unicode, plus notes.

    Bytes of a command-line argument that are not UTF-8 reach Python as lone surrogates
    (surrogateescape); they are decoded with replacement (U+FFFD) and a note says so.
    """
    text = " ".join(str(prompt).split())
    if not re.search("[\ud800-\udfff]", text):
        return text, []
    try:
        fixed = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # surrogates that are not escaped bytes
        fixed = re.sub("[\ud800-\udfff]", "\ufffd", text)
    return fixed, ["the prompt holds bytes that are not UTF-8 text; they were read as U+FFFD (\ufffd)"]


def resolve(
    prompt: str | None,
    preset_name: str | None,
    preset_file: Path | None,
    *,
    clamp: bool = False,
    presetter: Callable[[], PromptPresetter] | None = None,
) -> ResolvedPreset:
    """The Preset of one command call from exactly one source.

    ``presetter`` builds the PromptPresetter (only called when a prompt is given).
    """
    check_one_source(prompt, preset_name, preset_file)
    if preset_name is not None:
        return load_named(preset_name)
    if preset_file is not None:
        return load_file(preset_file, clamp=clamp)
    builder = presetter or PromptPresetter
    return builder()(prompt)  # type: ignore[arg-type]


def read_prompt_file(path: Path) -> list[str]:
    """Prompts from a text file: one per line; blank lines and ``#`` comments skipped;
    duplicates dropped (first kept). PromptError when the file is missing or holds none."""
    path = Path(path)
    if not path.exists() or path.is_dir():  # pipes such as <(printf ...) are fine
        raise PromptError(f"prompt file not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError) as exc:
        raise PromptError(
            f"cannot read prompt file {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    prompts: list[str] = []
    for line in lines:
        # a "#" at the start or after a space begins a comment ("warm tape  # for the vocals");
        # one inside a word ("C#") does not
        text = " ".join(re.sub(r"(?:^|\s)#.*", "", line).split())
        if text and text not in prompts:
            prompts.append(text)
    if not prompts:
        raise PromptError(f"prompt file {path} holds no prompts (one per line, # for comments)")
    return prompts


__all__ = [
    "ResolvedPreset",
    "PromptPresetter",
    "check_one_source",
    "load_named",
    "load_file",
    "resolve",
    "read_prompt_file",
    "clean_prompt",
    "PresetError",
]
