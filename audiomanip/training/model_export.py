"""From a training checkpoint to a shipped model folder: weights without the optimizer state,
the weight-free ONNX graph (:func:`export_model`) and the known-words table of ``explain``
(:func:`export_known_words`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audiomanip.training.checkpoints import split_state
from audiomanip.training.loop import TrainOptions, gather_pairs


def export_model(checkpoint: str | Path, out_dir: str | Path, *, name: str | None = None) -> Path:
    """Copy a trained checkpoint's weights and config without the optimizer state and, for a
    text-only or profile-view model, write its weight-free ONNX graph beside them (``model.onnx``, read by the
    runtime without torch; see :mod:`audiomanip.inference.export`): the form shipped as the
    default model. Returns the path written."""
    from audiomanip.checkpoint import load_checkpoint, save_checkpoint

    state, config = load_checkpoint(checkpoint)
    weights, _ = split_state(state)
    config = {k: v for k, v in config.items() if k != "training_state"}
    if name:
        config["name"] = name
    written = Path(save_checkpoint(out_dir, weights, config))
    from audiomanip.inference.model import ONNX_VIEWS

    if config.get("model", {}).get("audio_view", "none") in ONNX_VIEWS:
        from audiomanip.inference.export import export_preset_net

        export_preset_net(written)
    return written


def export_known_words(model_dir: str | Path, options: TrainOptions, *, encoder: Any = None) -> Path:
    """Write ``known_words.safetensors`` (see :mod:`audiomanip.explain`) into an exported model
    folder: the training descriptors' surface forms and crowd words of ``options``' training
    pairs, each with what the model in ``model_dir`` does for the word alone, and the vocabulary
    of every training prompt. Returns the path written."""
    from audiomanip.vocab.descriptors import load_descriptors
    from audiomanip.explain import build_known_words, save_known_words
    from audiomanip.inference.loader import load_model

    model = load_model(model_dir, encoder=encoder, backend="torch")
    train_pairs, _ = gather_pairs(options)
    entries = [(form, "authored") for d in load_descriptors().values() if not d.heldout for form in d.forms]
    if options.n_pairs > 0 and options.crowd_per_word > 0:
        from audiomanip.training.crowd_prompts import crowd_training_words

        entries += [(word, "crowd") for word in crowd_training_words()]
    known = build_known_words(entries, (p.prompt for p in train_pairs), model.encoder,
                              lambda words: [p.preset for p in model.predict_many(words)])
    return save_known_words(known, model_dir)
