"""What every preset model offers, whichever runtime computes its network: ``predict``.

:class:`PresetPredictor` holds the steps that do not depend on the runtime (checking prompts,
batching, explicit values read from the prompt, notes, :meth:`PresetPredictor.explain`); a runtime supplies
:meth:`PresetPredictor.head_outputs` (prompts -> head outputs) and, for models with an audio
view, :meth:`PresetPredictor.audio_view`. The ONNX Runtime model
(:class:`audiomanip.inference.model.OnnxPresetModel`) and the torch model
(:class:`audiomanip.model.PresetModel`) both derive from it. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from audiomanip import params as P
from audiomanip.errors import PromptError
from audiomanip.inference.heads import presets_from_outputs


@dataclass
class Prediction:
    """What :meth:`PresetPredictor.predict` returns.

    ``preset``: the predicted preset with explicit values from the prompt applied;
    ``explicit``: one line per explicit value that was applied (e.g. ``pitch.semitones = -3``);
    ``notes``: anything the user should know (audio ignored, values clamped ...).
    """

    preset: P.Preset
    explicit: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def explicit_lines(explicit: Any) -> list[str]:
    """Human lines for the explicit values parsed from a prompt."""
    describe = getattr(explicit, "describe", None)
    if callable(describe):
        lines = describe()
        return [lines] if isinstance(lines, str) else list(lines)
    return [str(x) for x in getattr(explicit, "items", [])]


def repeat_view(view: Any, n: int) -> Any:
    """A one-item audio view ``[1, ...]`` (numpy array or torch tensor) repeated to ``[n, ...]``
    without copying."""
    if hasattr(view, "expand"):
        return view.expand(n, *view.shape[1:])
    import numpy as np

    return np.broadcast_to(view, (n, *view.shape[1:]))


class PresetPredictor:
    """Base of the preset models: ``predict``/``predict_many`` over a runtime's head outputs.

    Subclasses provide ``encoder`` (with ``max_tokens``), ``path`` (the checkpoint, or None),
    :meth:`head_outputs` and, when they read audio, :meth:`audio_view`.
    """

    def explain(self, prompt: str, top_k: int = 3) -> list[Any] | None:
        """Per word of ``prompt`` that no training prompt held, the ``top_k`` nearest known words
        (:func:`audiomanip.explain.explain_prompt`, sentence vectors from this model's own text
        encoder); None when the checkpoint has no ``known_words.safetensors`` (read once, see
        :mod:`audiomanip.explain`). :class:`CheckpointError` when that file is damaged."""
        from audiomanip.explain import explain_prompt, load_known_words, sentence_vectors

        if "_known_words" not in self.__dict__:  # plain __dict__: the torch model is an nn.Module
            path = getattr(self, "path", None)
            self.__dict__["_known_words"] = load_known_words(path) if path is not None else None
        known = self.__dict__["_known_words"]
        if known is None:
            return None
        return explain_prompt(prompt, known, lambda words: sentence_vectors(self.encoder, words), top_k=top_k)

    def audio_view(self, audio: Any, sample_rate: float | None, notes: list[str]) -> Any:
        """The network's audio input for ``audio`` float32 [C, T] at ``sample_rate`` Hz, or None
        (then a note says why the audio is not used). Text-only models return None."""
        if audio is not None:
            notes.append("this model reads text only: the input audio does not change the preset")
        return None

    def head_outputs(self, prompts: Sequence[str], view: Any = None) -> tuple[dict[str, dict[str, Any]], list[bool]]:
        """HeadOutputs (arrays with a batch axis, see :mod:`audiomanip.inference.heads`) for
        ``prompts`` and, per prompt, whether the encoder had to truncate it."""
        raise NotImplementedError

    def predict(self, prompt: str, audio: Any = None, sample_rate: float | None = None) -> Prediction:
        """Preset for a description.

        ``audio`` (optional) is float32 [C, T] (or [T]) at ``sample_rate`` Hz; it is used only
        by models trained with an audio view. Explicit values in the prompt ("pitch down 3
        semitones", "cut 300 Hz by 4 dB", "40% wet") override what the network predicted; a prompt
        of explicit values only ("high cut at 4 kHz") gets just those, on the neutral preset.
        """
        return self.predict_many([prompt], audio=audio, sample_rate=sample_rate)[0]

    def predict_many(self, prompts: Sequence[str], audio: Any = None,
                     sample_rate: float | None = None, batch_size: int = 64) -> list[Prediction]:
        """:meth:`predict` for many prompts (the same optional audio for each)."""
        from audiomanip.vocab.explicit import parse_explicit

        prompts = list(prompts)
        for p in prompts:
            if not isinstance(p, str) or not p.strip():
                raise PromptError("the description is empty: say how it should sound, e.g. \"warm with a small room\"")
        notes: list[str] = []
        view = self.audio_view(audio, sample_rate, notes)
        results: list[Prediction] = []
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start:start + batch_size]
            v = None if view is None else repeat_view(view, len(chunk))
            outputs, truncated = self.head_outputs(chunk, v)
            presets = presets_from_outputs(outputs)
            for prompt, preset, cut in zip(chunk, presets, truncated):
                explicit = parse_explicit(prompt)
                final = explicit.resolve(preset)
                extra = [f"the prompt was truncated to the text encoder's limit of {self.encoder.max_tokens} "
                         "tokens: only its beginning shaped the preset (explicit values were read from all "
                         "of it)"] if cut else []
                if explicit.complete:
                    extra.append("the prompt holds only explicit values: the rest of the chain stays neutral")
                notes_here = list(notes) + extra + list(getattr(explicit, "notes", []) or [])
                results.append(Prediction(preset=final, explicit=explicit_lines(explicit), notes=notes_here))
        return results
