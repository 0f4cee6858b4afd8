"""Where a command's Preset comes from: a prompt (the model), a named preset or a preset file.

Every command accepts one of ``PROMPT``, ``--preset NAME`` or ``--preset-file FILE``; a
``PROMPT`` together with ``--preset``/``--preset-file`` edits that preset with words
(:mod:`audiomanip.preset_edit`). The model is loaded lazily, once, and only for a prompt alone
(on ONNX Runtime, see :mod:`audiomanip.inference.loader`), so ``--preset`` and ``--preset-file``
(edits included) never load it.
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

    ``kind`` is ``"prompt"``, ``"named"``, ``"file"`` or ``"edit"`` (a named preset or file moved
    by a prompt); ``label`` is the prompt text, the preset name or the file path, followed by
    the edit prompt for an edit (used for the output slug); ``edits`` is the chain of edits,
    ``[{"prompt", "from"}, …]``, that made the preset (recorded in the written preset); ``model`` is the model's
    ``info`` dict for prompts; ``explicit`` lists explicit values taken from the prompt;
    ``notes`` holds messages for the user (clamped or defaulted values, model notes);
    ``explain`` (prompts with ``explain=True``) lists, per word the model never saw in training,
    the nearest known words with weights and what they move (:mod:`audiomanip.explain`), or is
    None when not asked for or the checkpoint has no known-words file.
    """

    preset: Preset
    kind: str
    label: str
    prompt: str | None = None
    model: dict[str, Any] | None = None
    explicit: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    edits: list[dict[str, str]] = field(default_factory=list)
    explain: list[dict[str, Any]] | None = None

    def at_strength(self, strength: float) -> Preset:
        """The preset scaled to ``strength`` (0..1, :meth:`Preset.with_strength`); at 1 the
        preset itself, unchanged to the last bit."""
        return self.preset.with_strength(strength) if strength != 1.0 else self.preset


def check_one_source(
    prompt: str | None,
    preset_name: str | None,
    preset_file: Path | None,
    *,
    prompt_lists: dict[str, Any] | None = None,
) -> None:
    """UsageError unless one source is given: a PROMPT, --preset or --preset-file, or a PROMPT
    with one of the two presets (an edit). --preset and --preset-file never go together.

    With ``prompt_lists`` (``batch``: its option names mapped to their values, ``{"--prompts":
    FILE, "--plan": CSV}``) the prompt is batch's ``--prompt`` and exactly one of all the
    sources must be given (a batch edits nothing)."""
    if prompt_lists is not None:
        given = {"--prompt": prompt, **prompt_lists, "--preset": preset_name, "--preset-file": preset_file}
        named = [n for n, v in given.items() if v is not None]
        if len(named) != 1:
            raise UsageError(
                f"give exactly one of {', '.join(given)}" + (f" (got {', '.join(named)})" if named else "")
            )
        return
    if prompt is None and preset_name is None and preset_file is None:
        raise UsageError("give a PROMPT, --preset NAME or --preset-file FILE")
    if preset_name is not None and preset_file is not None:
        raise UsageError("give only one of --preset and --preset-file (a PROMPT may edit either)")


def check_prompt(prompt: str, example: str = "warm tape with a small room") -> None:
    """PromptError when ``prompt`` holds no words (checked before the model is loaded)."""
    if not str(prompt).split():
        raise PromptError(f'the prompt is empty; describe the sound, e.g. "{example}"')


def load_named(name: str) -> ResolvedPreset:
    """A named preset from the corpus (PresetFileError naming close matches when unknown)."""
    from audiomanip.vocab.named_presets import get_named_preset

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
    return ResolvedPreset(
        preset=preset, kind="file", label=preset.name or path.stem, notes=notes, edits=_recorded_edits(path)
    )


def _recorded_edits(path: Path) -> list[dict[str, str]]:
    """The edit chain a preset file records (``preset_edit.read_edit_chain``); [] when none."""
    import json

    import yaml

    from audiomanip.preset_edit import read_edit_chain

    try:
        text = path.read_text(encoding="utf-8-sig")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except Exception:  # the preset itself loaded: a chain that does not is simply absent
        return []
    return read_edit_chain(data)


def edit(base: ResolvedPreset, prompt: str, origin: str) -> ResolvedPreset:
    """``base`` (a named preset or file) moved as ``prompt`` says; the chain of edits grows by
    ``{"prompt": prompt, "from": origin}`` (``origin``: ``"preset cathedral"``, ``"file P.json"``)."""
    from audiomanip.preset_edit import edit_preset, extend_chain

    result = edit_preset(base.preset, prompt)
    return ResolvedPreset(
        preset=result.preset,
        kind="edit",
        label=f"{base.label} {' '.join(prompt.split())}",
        prompt=" ".join(prompt.split()),
        explicit=result.explicit,
        notes=base.notes + result.notes,
        edits=extend_chain(base.edits, prompt, origin),
    )


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
    ``device``: ``"auto"``, ``"cpu"`` or ``"cuda"`` (``note`` receives the CPU fall-back
    message of ``auto``; without ``note`` such messages wait for :meth:`take_notes`);
    ``backend``: ``"auto"``, ``"onnx"`` or ``"torch"`` (see
    :mod:`audiomanip.inference.loader`: ONNX Runtime unless the checkpoint needs torch);
    ``many``: many prompts will follow (the runtime then optimises its graphs at load);
    ``explain``: also fill :attr:`ResolvedPreset.explain` (the model's ``explain``).
    """

    def __init__(
        self,
        *,
        checkpoint_path: Path | None = None,
        checkpoint_dir: Path | None = None,
        device: str = "auto",
        seed: int | None = None,
        backend: str = "auto",
        note: Callable[[str], None] | None = None,
        many: bool = False,
        explain: bool = False,
    ) -> None:
        self.explain = explain
        self.checkpoint_path = checkpoint_path
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.seed = seed
        self.backend = backend
        self._pending_notes: list[str] = []
        self.note = note if note is not None else self._pending_notes.append
        self.many = many
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            from audiomanip.inference.loader import load_model

            self._model = load_model(checkpoint_path=self.checkpoint_path, checkpoint_dir=self.checkpoint_dir,
                                     device=self.device, backend=self.backend, optimize=self.many,
                                     note=self.note)
            if self.seed is not None and getattr(self._model, "backend", "torch") == "torch":
                import torch

                torch.manual_seed(self.seed)
        return self._model

    def take_notes(self) -> list[str]:
        """The loader's notes (the CPU fall-back of ``--device auto`` …) not yet taken, when no
        ``note`` callback was given: a caller shows them once the model ran, so that an error
        while loading stays one line."""
        notes = list(self._pending_notes)
        self._pending_notes.clear()
        return notes

    @property
    def device_used(self) -> str:
        """The device the model runs on (``"cpu"``, ``"cuda"``); loads the model."""
        return str(self.model.device)

    @property
    def wants_audio(self) -> bool:
        """True when the model was trained with an audio view (it then reads the input audio)."""
        info = getattr(self.model, "info", {}) or {}
        return str(info.get("audio_view", "none")) != "none"

    def __call__(self, prompt: str, audio: Any = None, sample_rate: int | None = None) -> ResolvedPreset:
        text, notes = clean_prompt(prompt)
        check_prompt(text)
        from audiomanip.vocab.unsupported import unsupported_notes

        prediction = self.model.predict(text, audio=audio, sample_rate=sample_rate)
        explained = None
        if self.explain:
            words = self.model.explain(text)
            if words is None:
                prediction.notes.append("this checkpoint has no known-words file (known_words.safetensors): "
                                        "nothing to explain")
            else:
                explained = [w.to_dict() for w in words]
        return ResolvedPreset(
            preset=prediction.preset,
            kind="prompt",
            label=text,
            prompt=text,
            model=dict(getattr(self.model, "info", {}) or {}),
            explicit=list(prediction.explicit),
            notes=notes + unsupported_notes(text) + list(prediction.notes),
            explain=explained,
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
    audio: Callable[[], tuple[Any, int]] | None = None,
    text_only: bool = False,
) -> ResolvedPreset:
    """The Preset of one command call from exactly one source.

    ``presetter`` builds the PromptPresetter (only called when a prompt is given alone: a named
    preset, a preset file or an edit never loads the model). ``audio`` returns the audio a model
    with an audio view listens to, ``(samples [channels, frames], sample rate in Hz)``; it is
    called only for such a model, and never with ``text_only`` (the model then reads the words
    alone, as a text-only model does).
    """
    check_one_source(prompt, preset_name, preset_file)
    if preset_name is not None or preset_file is not None:
        base = load_named(preset_name) if preset_name is not None else load_file(preset_file, clamp=clamp)
        if prompt is None:
            return base
        return edit(base, prompt, f"preset {base.label}" if preset_name is not None else f"file {preset_file}")
    model = (presetter or PromptPresetter)()
    listen = audio is not None and not text_only and model.wants_audio
    excerpt, rate = audio() if listen else (None, None)
    return model(prompt, excerpt, rate)  # type: ignore[arg-type]


def ignore_message(message: str) -> None:
    """The default ``note``/``warn`` callback of the jobs built on :class:`PresetRequest` (apply,
    export-preset, batch planning): messages nobody asked for."""


@dataclass(kw_only=True)
class PresetRequest:
    """Where a command's preset comes from and how the model runs.

    One of ``prompt``, ``preset_name`` and ``preset_file`` (a ``prompt`` with one of the two
    others edits that preset; see :func:`check_one_source`); ``clamp`` clamps out-of-range
    preset-file values; ``strength`` (0..1) scales the preset; ``checkpoint_path``,
    ``checkpoint_dir``, ``device`` and ``seed`` choose and run the model (a prompt alone);
    ``explain`` asks the model which unknown words it read as which known ones; ``text_only``
    keeps a model with an audio view from listening to the input (words only).
    """

    prompt: str | None = None
    preset_name: str | None = None
    preset_file: Path | None = None
    clamp: bool = False
    strength: float = 1.0
    checkpoint_path: Path | None = None
    checkpoint_dir: Path | None = None
    device: str = "auto"
    seed: int | None = None
    explain: bool = False
    text_only: bool = False


@dataclass
class ChosenPreset:
    """A request's preset: ``source`` (where it came from, with its notes), ``preset`` (at the
    requested strength), ``device`` the model ran on (``"cpu"`` when no model ran) and
    ``device_notes`` (the model loader's notes, such as the CPU fall-back of ``--device auto``)."""

    source: ResolvedPreset
    preset: Preset
    device: str = "cpu"
    device_notes: list[str] = field(default_factory=list)


def choose_preset(request: PresetRequest, *, audio: Callable[[], tuple[Any, int]] | None = None) -> ChosenPreset:
    """The preset of ``request`` at its strength (:func:`resolve`; ``audio`` as there). Only a
    prompt alone loads the model; its notes wait in ``device_notes`` for the caller."""
    req = request
    prompter = PromptPresetter(checkpoint_path=req.checkpoint_path, checkpoint_dir=req.checkpoint_dir,
                               device=req.device, seed=req.seed, explain=req.explain)
    source = resolve(req.prompt, req.preset_name, req.preset_file, clamp=req.clamp,
                     presetter=lambda: prompter, audio=audio, text_only=req.text_only)
    ran = source.kind == "prompt"  # the model ran (never for a named preset, a file or an edit)
    return ChosenPreset(source=source, preset=source.at_strength(req.strength),
                        device=prompter.device_used if ran else "cpu", device_notes=prompter.take_notes())


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
    "ChosenPreset",
    "PresetRequest",
    "ResolvedPreset",
    "choose_preset",
    "PromptPresetter",
    "check_one_source",
    "check_prompt",
    "ignore_message",
    "load_named",
    "load_file",
    "resolve",
    "read_prompt_file",
    "clean_prompt",
    "PresetError",
]
