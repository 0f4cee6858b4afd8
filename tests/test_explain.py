"""`apply --explain`: known words nearest to the words a prompt's model never saw, with the real
MiniLM encoder; and the text adapter of the network."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audiomanip import params as P
from audiomanip.vocab.descriptors import descriptor_preset
from audiomanip.explain import (
    KNOWN_WORDS_FILE,
    build_known_words,
    effect_moves,
    explain_prompt,
    load_known_words,
    save_known_words,
    unknown_words,
)
from audiomanip.model.network import ModelConfig, PresetNet, TextAdapter

KNOWN = ["bright", "warm", "dark", "muddy", "cathedral", "distorted", "telephone", "compressed", "airy",
         "small room", "echo", "chipmunk"]
TRAINING_PROMPTS = ["make it bright", "a warm sound", "in a cathedral", "give my vocals a dark sound",
                    "with some echo", "a small room"]


@pytest.fixture(scope="module")
def encoder():
    from audiomanip.text import load_text_encoder

    return load_text_encoder()


def _presets_for(words):
    # what a model would do for each word: a real descriptor recipe for the ones the corpus has
    out = []
    for w in words:
        try:
            out.append(descriptor_preset(w))
        except KeyError:
            out.append(P.Preset.default())
    return out


@pytest.fixture(scope="module")
def known(encoder):
    return build_known_words([(w, "authored") for w in KNOWN], TRAINING_PROMPTS, encoder, _presets_for)


def _encode(encoder):
    return lambda words: encoder.encode(words).pooled.numpy()


def test_effect_moves_reads_the_preset_values():
    warm = effect_moves(descriptor_preset("warm"))
    assert warm == ["eq: +3.0 dB low_shelf 200 Hz, -2.5 dB high_shelf 8 kHz"]
    p = P.Preset.default().set("reverb", "room_size", 0.5).set("reverb", "wet", 0.4).set("pitch", "semitones", -3.0)
    moves = effect_moves(p)
    t60 = float(P.room_size_to_t60_s(0.5))  # 0.15 s × 60^0.5 = 1.16 s
    assert moves == ["pitch: -3.0 st", f"reverb: T60 {t60:.1f} s, wet 0.40"]
    assert effect_moves(P.Preset.default()) == []


def test_unknown_words_are_those_outside_the_training_prompts(known):
    assert unknown_words("make it bright", known) == []
    assert unknown_words("make it luminous, bright, LUMINOUS!", known) == ["luminous"]


@pytest.mark.parametrize("prompt, unknown, expected", [
    ("a cathedrale", "cathedrale", "cathedral"),      # a typo
    ("make it distortd", "distortd", "distorted"),    # a typo
    ("make it luminous", "luminous", "bright"),       # a rare synonym
    ("in a church", "church", "cathedral"),           # a word the corpus never had
])
def test_explain_names_a_known_word_for_an_unknown_one(known, encoder, prompt, unknown, expected):
    (entry,) = explain_prompt(prompt, known, _encode(encoder))
    assert entry.word == unknown
    top = entry.neighbours[0]
    assert top.word == expected
    assert top.weight > 0.5 and top.similarity > 0.5
    assert abs(sum(n.weight for n in entry.neighbours) - 1.0) < 1e-6
    assert [n.similarity for n in entry.neighbours] == sorted((n.similarity for n in entry.neighbours), reverse=True)


def test_known_words_file_round_trip(known, encoder, tmp_path):
    path = save_known_words(known, tmp_path)
    assert path.name == KNOWN_WORDS_FILE
    back = load_known_words(tmp_path)
    assert back is not None and back.words == known.words and back.vocabulary == known.vocabulary
    assert back.moves[KNOWN.index("warm")] == ["eq: +3.0 dB low_shelf 200 Hz, -2.5 dB high_shelf 8 kHz"]
    # int8 storage keeps cosines within 0.005
    cos_full = known.vectors @ known.vectors.T
    v = back.vectors / np.linalg.norm(back.vectors, axis=1, keepdims=True)
    assert np.max(np.abs(v @ v.T - cos_full)) < 0.005
    (tmp_path / "empty").mkdir()
    assert load_known_words(tmp_path / "empty") is None


def test_damaged_known_words_file_is_a_checkpoint_error(tmp_path):
    from audiomanip.errors import CheckpointError

    (tmp_path / KNOWN_WORDS_FILE).write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="damaged"):
        load_known_words(tmp_path)


def test_cli_apply_explain_json_and_table(tiny_model, known, tmp_path, tmp_wav):
    import shutil

    from cli_helpers import invoke

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model, model_dir)
    save_known_words(known, model_dir)
    wav = tmp_wav(np.zeros((1, 4800), np.float32), 48000, "in.wav")
    res = invoke("apply", wav, "make it luminous", "--checkpoint-path", model_dir, "--dry-run", "--json", "--explain")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    (entry,) = doc["explain"]
    assert entry["word"] == "luminous" and entry["neighbours"][0]["word"] == "bright"
    assert entry["neighbours"][0]["moves"] and entry["neighbours"][0]["moves"][0].startswith("eq: ")
    res = invoke("apply", wav, "make it luminous", "--checkpoint-path", model_dir, "--dry-run", "--explain")
    assert res.exit_code == 0 and "luminous" in res.stdout and "bright" in res.stdout
    # a checkpoint without the file says so instead of failing
    res = invoke("apply", wav, "make it luminous", "--checkpoint-path", tiny_model, "--dry-run", "--explain")
    assert res.exit_code == 0 and "no known-words file" in res.output
    # a word edit of a named preset is read by the edit vocabulary, not the model: a note, no table
    res = invoke("apply", wav, "--preset", "cathedral", "a bit less reverb", "--dry-run", "--explain")
    assert res.exit_code == 0 and "nothing to explain" in res.output and "never saw" not in res.output


def test_text_adapter_starts_as_identity_and_learns():
    torch.manual_seed(0)
    adapter = TextAdapter(16, 8)
    x = torch.randn(3, 5, 16)
    assert torch.equal(adapter(x), x)
    net = PresetNet(ModelConfig(text_dim=16, d_model=16, n_heads=2, head_hidden=16, n_self_layers=1, text_adapter=8))
    tokens, mask, pooled = torch.randn(2, 4, 16), torch.ones(2, 4, dtype=torch.bool), torch.randn(2, 16)
    out = net(tokens, mask, pooled)
    loss = sum(o["continuous"].sum() for o in out.values())
    loss.backward()
    assert net.adapter.net[-1].weight.grad.abs().sum() > 0  # the zero-initialised output layer gets gradient
