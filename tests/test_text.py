"""Text encoders: the fast-start default equals sentence-transformers; other models; CLAP."""

from __future__ import annotations

import os
import pathlib
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from audiomanip.errors import CheckpointError, DependencyError, UsageError
from audiomanip.text import DEFAULT_TEXT_ENCODER, EncodedText, TextEncoder, load_text_encoder
from audiomanip.text.clap import CLAP_MAX_TOKENS, CLAP_SAMPLE_RATE, ClapEncoder
from audiomanip.text.light_bert import LightBertEncoder
from audiomanip.text.offline import OFFLINE_VARIABLES, offline_environment
from audiomanip.text.st_encoder import SentenceTransformerEncoder

LONG_PROMPT = ("make it sound like an old warm tape recording in a small wooden room with a bit of "
               "crunchy saturation and a gentle compressor, ") * 80
assert len(LONG_PROMPT) >= 10_000

PROMPTS = [
    "warm vintage tape with a small room",
    "",
    "a",
    "Make it BRIGHT and airy!!!",
    "Ünïcödé café naïve — “curly quotes” and ß",
    "🎸🔥 crunchy guitar 🤘 with 🎹",
    "日本語のテキスト、中文字符和한국어",
    "telephone voice, very thin and nasal; pitch down 3 semitones",
    "   leading and trailing spaces   ",
    "hall reverb\nnew line\ttab",
    "cut 300 Hz by 4 dB, 40% wet, 120 ms pre-delay",
    LONG_PROMPT,
]


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def light() -> LightBertEncoder:
    return load_text_encoder()


@pytest.fixture(scope="module")
def st_model():
    """sentence-transformers' own model of the default encoder: the reference."""
    from sentence_transformers import SentenceTransformer

    from audiomanip.text import default_model_folder

    with offline_environment():
        return SentenceTransformer(str(default_model_folder()), device="cpu", local_files_only=True)


@pytest.fixture(scope="module")
def tiny_bert_folder(tmp_path_factory) -> pathlib.Path:
    """A randomly initialised 2-layer, 32-d BERT saved as a sentence-transformers folder
    (mean pooling + Normalize, max_seq_length 16)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizer

    root = tmp_path_factory.mktemp("tiny_bert")
    words = ("warm bright dark tape hall room small big reverb echo guitar voice very slightly "
             "the a with and").split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words + list("abcdefghijklmnopqrstuvwxyz")
    vocab += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(root / "hf")
    BertTokenizer(vocab_file=str(root / "vocab.txt")).save_pretrained(root / "hf")
    model = SentenceTransformer(modules=[Transformer(str(root / "hf"), max_seq_length=16),
                                         Pooling(32, "mean"), Normalize()], device="cpu")
    model.save(str(root / "st"))
    return root / "st"


# --------------------------------------------------------------------------- default encoder
def test_default_encoder_is_the_light_path(light):
    assert isinstance(light, LightBertEncoder)
    assert isinstance(light, TextEncoder)
    assert (light.name, light.dim, light.max_tokens) == (DEFAULT_TEXT_ENCODER, 384, 256)
    assert load_text_encoder("sentence-transformers/all-MiniLM-L6-v2").name == DEFAULT_TEXT_ENCODER


def test_default_encoder_matches_sentence_transformers(light, st_model):
    """Token ids, token vectors and pooled vectors equal sentence-transformers' within 1e-4."""
    ours = light.encode(PROMPTS)
    assert ours.tokens.dtype == torch.float32 and ours.mask.dtype == torch.bool
    assert ours.tokens.shape == (len(PROMPTS), 256, 384) and ours.pooled.shape == (len(PROMPTS), 384)

    features = st_model.preprocess(PROMPTS)
    ids, _ = light.token_ids(PROMPTS)
    ref_tokens = st_model.encode(PROMPTS, output_value="token_embeddings", convert_to_numpy=False)
    ref_pooled = st_model.encode(PROMPTS, convert_to_tensor=True, normalize_embeddings=True)
    for i, prompt in enumerate(PROMPTS):
        n = int(features["attention_mask"][i].sum())
        assert ids[i] == features["input_ids"][i, :n].tolist(), prompt[:40]
        assert int(ours.mask[i].sum()) == n == ref_tokens[i].shape[0]
        assert torch.allclose(ours.tokens[i, :n], ref_tokens[i], atol=1e-4, rtol=0), prompt[:40]
        assert not ours.tokens[i, n:].any()  # padding rows are zeros
    assert torch.allclose(ours.pooled, ref_pooled.float(), atol=1e-4, rtol=0)
    assert torch.allclose(ours.pooled.norm(dim=1), torch.ones(len(PROMPTS)), atol=1e-5)
    assert ours.truncated == [False] * (len(PROMPTS) - 1) + [True]


def test_sentence_transformers_backend_gives_the_same_encoding(light):
    slow = load_text_encoder(DEFAULT_TEXT_ENCODER, backend="sentence-transformers")
    assert isinstance(slow, SentenceTransformerEncoder)
    assert (slow.name, slow.dim, slow.max_tokens) == (light.name, light.dim, light.max_tokens)
    a, b = light.encode(PROMPTS), slow.encode(PROMPTS)
    assert torch.equal(a.mask, b.mask)
    assert torch.allclose(a.tokens, b.tokens, atol=1e-4, rtol=0)
    assert torch.allclose(a.pooled, b.pooled, atol=1e-4, rtol=0)
    assert a.truncated == b.truncated


def test_encoding_does_not_depend_on_batching(light):
    prompts = PROMPTS[:8]
    whole = light.encode(prompts)
    chunked = light.encode(prompts, batch_size=3)
    assert torch.allclose(whole.tokens, chunked.tokens, atol=1e-5) and torch.equal(whole.mask, chunked.mask)
    alone = light.encode([prompts[3]])
    n = int(alone.mask.sum())
    assert torch.allclose(alone.tokens[0, :n], whole.tokens[3, :n], atol=1e-5)
    assert torch.allclose(alone.pooled[0], whole.pooled[3], atol=1e-5)


def test_pooled_vectors_carry_meaning(light):
    pooled = light.encode(["warm vintage tape saturation", "analog tape warmth",
                           "huge cathedral reverb", "cave-like echoing space"]).pooled
    sim = pooled @ pooled.T
    assert sim[0, 1] > sim[0, 2] + 0.1 and sim[2, 3] > sim[2, 1] + 0.1


def test_empty_batch_and_bad_input(light):
    empty = light.encode([])
    assert isinstance(empty, EncodedText) and len(empty) == 0
    assert empty.tokens.shape == (0, 0, 384) and empty.pooled.shape == (0, 384) and empty.truncated == []
    with pytest.raises(TypeError, match="list of prompts"):
        light.encode("warm")
    with pytest.raises(TypeError, match="not str"):
        light.encode(["warm", 3])
    with pytest.raises(UsageError, match="backend"):
        load_text_encoder(backend="onnx")


def test_default_encoder_loads_without_sentence_transformers():
    """The fast-start path: loading and encoding import neither transformers nor
    sentence-transformers, and leave the offline variables as they were."""
    code = (
        "import os, sys\n"
        "from audiomanip.text import load_text_encoder\n"
        "e = load_text_encoder()\n"
        "out = e.encode(['warm tape'])\n"
        "print(type(e).__name__, tuple(out.pooled.shape), "
        "[m for m in ('transformers', 'sentence_transformers') if m in sys.modules], "
        "[v for v in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE') if v in os.environ])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_VARIABLES}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "LightBertEncoder (1, 384) [] []"
    assert out.stderr == ""


# --------------------------------------------------------------------------- other models
def test_tiny_bert_through_sentence_transformers(tiny_bert_folder):
    enc = load_text_encoder(str(tiny_bert_folder))
    assert isinstance(enc, SentenceTransformerEncoder)
    assert (enc.dim, enc.max_tokens, enc.name) == (32, 16, str(tiny_bert_folder))
    prompts = ["warm tape", "a very very very big dark hall with a small room and echo echo echo", ""]
    out = enc.encode(prompts)
    assert out.tokens.shape == (3, 16, 32) and out.pooled.shape == (3, 32)
    assert out.truncated == [False, True, False]
    assert out.mask.sum(dim=1).tolist() == [4, 16, 2]  # [CLS] warm tape [SEP]; truncated; [CLS] [SEP]
    # pooled = L2-normalised mean of the real tokens
    mean = (out.tokens * out.mask[..., None]).sum(1) / out.mask.sum(1, keepdim=True)
    assert torch.allclose(out.pooled, F.normalize(mean, dim=1), atol=1e-5)

    # The pure-torch path computes the same numbers for the same folder.
    light = load_text_encoder(str(tiny_bert_folder), backend="light")
    assert isinstance(light, LightBertEncoder) and (light.dim, light.max_tokens) == (32, 16)
    fast = light.encode(prompts)
    assert torch.equal(fast.mask, out.mask) and fast.truncated == out.truncated
    assert torch.allclose(fast.tokens, out.tokens, atol=1e-5)
    assert torch.allclose(fast.pooled, out.pooled, atol=1e-5)


def test_missing_models_say_how_to_get_them(tmp_path):
    before = {v: os.environ.get(v) for v in OFFLINE_VARIABLES}
    with pytest.raises(CheckpointError) as err:
        load_text_encoder("audiomanip-tests/no-such-encoder")
    message = str(err.value)
    assert "not available on this machine" in message and "Download it once" in message
    assert {v: os.environ.get(v) for v in OFFLINE_VARIABLES} == before
    with pytest.raises(CheckpointError, match="does not exist"):
        load_text_encoder(str(tmp_path / "missing-folder"))
    with pytest.raises(CheckpointError, match="no tokenizer.json"):
        load_text_encoder(str(tmp_path), backend="light")


def test_offline_environment_defaults_and_honours_user_values(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    with offline_environment():
        assert os.environ["HF_HUB_OFFLINE"] == "1"
        assert os.environ["TRANSFORMERS_OFFLINE"] == "0"  # the user's choice stands
    assert "HF_HUB_OFFLINE" not in os.environ and os.environ["TRANSFORMERS_OFFLINE"] == "0"
    with offline_environment(allow_download=True):
        assert "HF_HUB_OFFLINE" not in os.environ


# --------------------------------------------------------------------------- CLAP
class _TinyClapModel(torch.nn.Module):
    def __init__(self, dim: int = 512):
        super().__init__()
        self.text = torch.nn.EmbeddingBag(97, dim, mode="mean")
        self.audio = torch.nn.Linear(64, dim)


class _TinyClapModule:
    """A small randomly initialised stand-in with laion_clap.CLAP_Module's interface."""

    def __init__(self, seed: int):
        torch.manual_seed(seed)
        self.model = _TinyClapModel()
        self.received: list[np.ndarray] = []

    def tokenize(self, texts, add_special_tokens=True, truncation=False, verbose=False):
        return {"input_ids": [[0] + [len(w) for w in t.split()] + [2] for t in texts]}

    def get_text_embedding(self, texts):
        ids = [torch.tensor([ord(c) % 97 for c in t] or [0]) for t in texts]
        offsets = torch.tensor([0] + [len(x) for x in ids[:-1]]).cumsum(0)
        return F.normalize(self.model.text(torch.cat(ids), offsets), dim=1).detach().numpy()

    def get_audio_embedding_from_data(self, x, use_tensor=False):
        self.received = [np.asarray(a) for a in x]
        feats = torch.stack([torch.from_numpy(np.abs(np.fft.rfft(a, n=126))[:64]).float() for a in x])
        return F.normalize(self.model.audio(feats), dim=1).detach().numpy()


def _save_clap_checkpoints(tmp_path: pathlib.Path) -> tuple[_TinyClapModule, dict[str, pathlib.Path]]:
    from safetensors.torch import save_file

    trained = _TinyClapModule(seed=1)
    state = {k: v.contiguous() for k, v in trained.model.state_dict().items()}
    paths = {"safetensors": tmp_path / "clap.safetensors", "pt": tmp_path / "clap.pt",
             "wrapped": tmp_path / "clap_wrapped.ckpt"}
    save_file(state, str(paths["safetensors"]))
    torch.save(state, paths["pt"])
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, paths["wrapped"])
    return trained, paths


def test_clap_missing_checkpoint_and_missing_extra(tmp_path, monkeypatch):
    with pytest.raises(CheckpointError, match="does not exist"):
        ClapEncoder(tmp_path / "630k-audioset-best.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_text_encoder(f"clap:{tmp_path / 'nothing.pt'}")
    ckpt = tmp_path / "clap.pt"
    torch.save({"w": torch.zeros(2)}, ckpt)
    monkeypatch.setitem(sys.modules, "laion_clap", None)  # as if laion-clap were not installed
    with pytest.raises(DependencyError) as err:
        ClapEncoder(ckpt)
    assert "install the clap extra: pip install 'audiomanip[clap]'" in str(err.value)


@pytest.mark.parametrize("kind", ["safetensors", "pt", "wrapped"])
def test_clap_text_embeddings_from_an_injected_module(tmp_path, kind):
    trained, paths = _save_clap_checkpoints(tmp_path)
    enc = ClapEncoder(paths[kind], module=_TinyClapModule(seed=2))  # other random weights, then loaded
    assert (enc.dim, enc.max_tokens) == (512, CLAP_MAX_TOKENS)
    prompts = ["warm tape", "huge hall", "word " * 100]
    out = enc.encode(prompts)
    expected = torch.from_numpy(trained.get_text_embedding(prompts))
    assert out.tokens.shape == (3, 1, 512) and out.mask.all() and out.mask.shape == (3, 1)
    assert torch.allclose(out.pooled, expected, atol=1e-6)
    assert torch.equal(out.tokens[:, 0], out.pooled)
    assert out.truncated == [False, False, True]


def test_clap_audio_embedding_is_mono_at_48k(tmp_path):
    _, paths = _save_clap_checkpoints(tmp_path)
    module = _TinyClapModule(seed=2)
    enc = ClapEncoder(paths["safetensors"], module_factory=lambda device: module)
    sr = 44100
    t = np.arange(sr) / sr
    sine = np.sin(2 * np.pi * 1000.0 * t).astype(np.float32)
    emb = enc.encode_audio(np.stack([sine, sine]), sr)
    assert emb.shape == (512,) and abs(float(emb.norm()) - 1.0) < 1e-5
    (received,) = module.received
    assert received.ndim == 1 and received.dtype == np.float32
    assert abs(len(received) - CLAP_SAMPLE_RATE) <= 1  # one second at 48 kHz
    spectrum = np.abs(np.fft.rfft(received))
    assert abs(np.argmax(spectrum) * CLAP_SAMPLE_RATE / len(received) - 1000.0) < 2.0  # still 1 kHz
    # Channels are averaged: opposite-polarity channels cancel.
    enc.encode_audio(np.stack([sine, -sine]), sr)
    assert float(np.max(np.abs(module.received[0]))) < 1e-6
    batch = enc.encode_audio([sine, np.stack([sine, sine])], sr)
    assert batch.shape == (2, 512) and torch.allclose(batch[1], emb, atol=1e-5)
    with pytest.raises(ValueError, match="non-empty"):
        enc.encode_audio(np.zeros((2, 0), np.float32), sr)


def test_clap_checkpoint_problems_are_clear(tmp_path):
    wrong = tmp_path / "other.safetensors"
    from safetensors.torch import save_file

    save_file({"text.weight": torch.zeros(97, 256), "audio.weight": torch.zeros(256, 64),
               "audio.bias": torch.zeros(256)}, str(wrong))
    with pytest.raises(CheckpointError, match="does not fit"):
        ClapEncoder(wrong, module=_TinyClapModule(seed=2))

    class Payload:
        def __reduce__(self):
            return (pathlib.Path.touch, (tmp_path / "pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": Payload()}, evil)
    with pytest.raises(CheckpointError, match="weights_only"):
        ClapEncoder(evil, module=_TinyClapModule(seed=2))
    evil.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError, match="weights_only"):
        ClapEncoder(evil, module=_TinyClapModule(seed=2))
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "garbage.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        ClapEncoder(tmp_path / "garbage.safetensors", module=_TinyClapModule(seed=2))
