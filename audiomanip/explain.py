"""What the model understood: the known words nearest to the words of a prompt it never learned.

A checkpoint may carry ``known_words.safetensors`` beside its weights, written when it is
exported (:func:`build_known_words`, :func:`save_known_words`):

* tensors ``vectors`` int8 [N, D] and ``scales`` float32 [N]: the frozen text encoder's
  L2-normalised sentence vector of each known word (the space the model reads) is
  ``vectors[i] * scales[i]`` (each row rounded to 127 steps of its largest component; cosines
  within about 0.005);
* metadata ``known``: JSON, one ``{"word", "source", "moves"}`` per row of ``vectors``:
  the word, where its target came from (``authored`` descriptor or ``crowd``) and what the model
  does for that word alone (``moves``: one short line per effect it turns on);
* metadata ``vocabulary``: JSON list of every word of the training prompts (a word in it is
  "known", even a filler such as "make");
* metadata ``encoder``: the encoder name.

At run time :func:`explain_prompt` splits a prompt into words, takes those outside the
vocabulary (numbers aside), encodes them with the encoder the model has already loaded (one
small batch) and returns, per unknown word, the ``top_k`` known words by cosine similarity with
softmax weights (temperature :data:`TEMPERATURE`). Reading the file needs numpy only (the
runtime's safetensors reader, :func:`audiomanip.inference.weights.read_tensors`); no network is
run. Every preset model offers it as ``explain`` (:class:`audiomanip.inference.predictor.PresetPredictor`,
so ONNX Runtime and torch alike). Writing the file (at export) needs the ``safetensors`` package.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from audiomanip import params as P
from audiomanip.errors import CheckpointError

#: File name beside ``model.safetensors``.
KNOWN_WORDS_FILE = "known_words.safetensors"
#: Softmax temperature over cosine similarities of the nearest known words.
TEMPERATURE = 0.05
_WORD = re.compile(r"[a-z]+(?:['-][a-z]+)*")


@dataclass
class KnownWords:
    """Known words with their unit sentence vectors (float32 [N, D]), sources, effect summaries and
    the vocabulary of training prompts."""

    words: list[str]
    vectors: np.ndarray
    sources: list[str]
    moves: list[list[str]]
    vocabulary: frozenset[str]
    encoder: str

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise ValueError(f"vectors {self.vectors.shape} do not fit {len(self.words)} words")


@dataclass
class Neighbour:
    """A known word standing in for an unknown one: ``similarity`` is the cosine in encoder
    space, ``weight`` its softmax share among the neighbours listed."""

    word: str
    similarity: float
    weight: float
    source: str
    moves: list[str] = field(default_factory=list)


@dataclass
class WordExplanation:
    """One word of the prompt the model never saw in training, and its nearest known words."""

    word: str
    neighbours: list[Neighbour]

    def to_dict(self) -> dict[str, Any]:
        return {"word": self.word, "neighbours": [
            {"word": n.word, "similarity": round(n.similarity, 4), "weight": round(n.weight, 4),
             "source": n.source, "moves": list(n.moves)} for n in self.neighbours]}


# --------------------------------------------------------------------------- what a preset moves
def _hz(f: float) -> str:
    return f"{f / 1000:.3g} kHz" if f >= 1000 else f"{f:.3g} Hz"


def effect_moves(preset: P.Preset, *, min_db: float = 1.0) -> list[str]:
    """One short line per enabled effect of ``preset`` that moves the sound, e.g.
    ``"eq: +3.0 dB low_shelf 200 Hz, -2.5 dB high_shelf 8 kHz"``, ``"reverb: T60 2.0 s, wet 0.30"``.
    EQ bands under ``min_db`` dB (shelves, peaks) are left out; pass filters are always listed."""
    out: list[str] = []
    v, on = preset.values, preset.enabled
    if on["pitch"] and abs(v["pitch"]["semitones"]) >= 0.1:
        out.append(f"pitch: {v['pitch']['semitones']:+.1f} st")
    if on["eq"]:
        bands = []
        for b in range(1, 6):
            kind, f, g = v["eq"][f"band{b}_type"], v["eq"][f"band{b}_freq_hz"], v["eq"][f"band{b}_gain_db"]
            if kind in ("low_pass", "high_pass"):
                bands.append(f"{kind} {_hz(f)}")
            elif abs(g) >= min_db:
                bands.append(f"{g:+.1f} dB {kind} {_hz(f)}")
        if bands:
            out.append("eq: " + ", ".join(bands))
    if on["distortion"]:
        out.append(f"distortion: drive {v['distortion']['drive_db']:.1f} dB")
    if on["compressor"]:
        c = v["compressor"]
        out.append(f"compressor: {c['ratio']:.1f}:1 at {c['threshold_db']:.0f} dB")
    if on["reverb"]:
        r = v["reverb"]
        out.append(f"reverb: T60 {float(P.room_size_to_t60_s(r['room_size'])):.1f} s, wet {r['wet']:.2f}")
    if on["output"] and abs(v["output"]["gain_db"]) >= min_db:
        out.append(f"output: {v['output']['gain_db']:+.1f} dB")
    return out


# --------------------------------------------------------------------------- building and files
def prompt_words(text: str) -> list[str]:
    """Lower-case words of a text (letters with inner ' or -), in order."""
    return _WORD.findall(text.lower())


def sentence_vectors(encoder: Any, texts: Sequence[str]) -> np.ndarray:
    """float32 [n, D] sentence vectors (``pooled``) of ``texts`` from any text encoder: the ONNX
    Runtime one gives numpy, the torch ones tensors (detached and moved to the CPU here)."""
    pooled = encoder.encode(list(texts)).pooled
    if hasattr(pooled, "detach"):
        pooled = pooled.detach().cpu().float().numpy()
    return np.asarray(pooled, dtype=np.float32)


def build_known_words(entries: Sequence[tuple[str, str]], training_prompts: Iterable[str], encoder: Any,
                      predict: Callable[[list[str]], list[P.Preset]], *, batch_size: int = 256) -> KnownWords:
    """Known words from ``(word, source)`` entries: their encoder vectors and what ``predict``
    (the trained model, word alone -> preset) does for each. ``training_prompts`` give the
    vocabulary. Duplicate words keep their first entry."""
    seen: dict[str, str] = {}
    for word, source in entries:
        w = " ".join(word.lower().split())
        if w and w not in seen:
            seen[w] = source
    words = list(seen)
    vecs, moves = [], []
    for start in range(0, len(words), batch_size):
        chunk = words[start:start + batch_size]
        vecs.append(sentence_vectors(encoder, chunk))
        moves.extend(effect_moves(p) for p in predict(chunk))
    vectors = np.concatenate(vecs) if vecs else np.zeros((0, int(encoder.dim)), np.float32)
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    vocab = {w for p in training_prompts for w in prompt_words(p)}
    vocab |= {w for word in words for w in prompt_words(word)}
    return KnownWords(words, vectors.astype(np.float32), [seen[w] for w in words], moves,
                      frozenset(vocab), str(encoder.name))


def save_known_words(known: KnownWords, folder: str | Path) -> Path:
    """Write ``known_words.safetensors`` into a checkpoint folder (atomically); returns its path."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    path = folder / KNOWN_WORDS_FILE
    tmp = folder / f".{KNOWN_WORDS_FILE}.tmp"
    meta = {"encoder": known.encoder, "vocabulary": json.dumps(sorted(known.vocabulary)),
            "known": json.dumps([{"word": w, "source": s, "moves": m}
                                 for w, s, m in zip(known.words, known.sources, known.moves)])}
    try:
        scales = np.maximum(np.abs(known.vectors).max(axis=1), 1e-12).astype(np.float32) / 127.0
        q = np.clip(np.round(known.vectors / scales[:, None]), -127, 127).astype(np.int8)
        save_file({"vectors": np.ascontiguousarray(q), "scales": scales}, str(tmp), metadata=meta)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def known_words_path(checkpoint: str | Path) -> Path:
    """Where the known-words file of a checkpoint (folder or weights file) lives."""
    checkpoint = Path(checkpoint)
    return (checkpoint if checkpoint.is_dir() else checkpoint.parent) / KNOWN_WORDS_FILE


def load_known_words(checkpoint: str | Path) -> KnownWords | None:
    """The known words of a checkpoint, or None when it has none. CheckpointError when the file
    is there but damaged."""
    from audiomanip.inference.weights import read_tensors

    path = known_words_path(checkpoint)
    if not path.is_file():
        return None
    try:
        tensors, meta = read_tensors(path)
        vectors = tensors["vectors"].astype(np.float32) * tensors["scales"].astype(np.float32)[:, None]
        rows = json.loads(meta["known"])
        return KnownWords([r["word"] for r in rows], vectors, [r["source"] for r in rows],
                          [list(r["moves"]) for r in rows], frozenset(json.loads(meta["vocabulary"])),
                          meta.get("encoder", ""))
    except Exception as exc:  # noqa: BLE001 - any damage is one clear error
        raise CheckpointError(f"{path} is damaged ({type(exc).__name__}: {exc}); export the model again") from None


# --------------------------------------------------------------------------- explaining
def unknown_words(prompt: str, known: KnownWords) -> list[str]:
    """Words of ``prompt`` never seen in training prompts (each once, in order)."""
    out: list[str] = []
    for w in prompt_words(prompt):
        if w not in known.vocabulary and w not in out:
            out.append(w)
    return out


def explain_prompt(prompt: str, known: KnownWords, encode: Callable[[list[str]], np.ndarray], *,
                   top_k: int = 3) -> list[WordExplanation]:
    """Per unknown word of ``prompt``, its ``top_k`` nearest known words. ``encode`` maps words to
    sentence vectors [n, D] with the encoder of ``known`` (the model's own)."""
    words = unknown_words(prompt, known)
    if not words or not known.words:
        return []
    q = np.asarray(encode(words), dtype=np.float32)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    ref = known.vectors / np.maximum(np.linalg.norm(known.vectors, axis=1, keepdims=True), 1e-12)
    sims = q @ ref.T  # [n_unknown, N]
    out = []
    for i, word in enumerate(words):
        top = np.argsort(-sims[i])[:top_k]
        s = sims[i, top]
        w = np.exp((s - s.max()) / TEMPERATURE)
        w = w / w.sum()
        out.append(WordExplanation(word, [
            Neighbour(known.words[j], float(sj), float(wj), known.sources[j], list(known.moves[j]))
            for j, sj, wj in zip(top, s, w)]))
    return out
