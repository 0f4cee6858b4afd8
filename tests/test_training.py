"""Training: embedding cache, pair files, a tiny run that learns, Ctrl-C and resume, evaluation."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from fakes import HashEncoder

from audiomanip import params as P
from audiomanip.training.dataset import (
    EmbeddingCache,
    PairDataset,
    PromptPresetPair,
    load_description_file,
    load_pairs_file,
)
from audiomanip.errors import InputNotFoundError, PresetFileError
from audiomanip.model.losses import multi_resolution_stft_loss, parameter_loss
from audiomanip.training.clips import clip_bank
from audiomanip.training.heldout import constant_predictor, heldout_metrics
from audiomanip.training.loop import TrainOptions, train

SPACES = {"dry": None, "small room": (0.2, 0.2), "huge hall": (0.85, 0.5)}
TONES = {"plain": None, "bright": ("high_shelf", 6000.0, 8.0), "dark": ("low_pass", 2500.0, 0.0)}
CHARACTERS = {"clean": None, "crunchy": 14.0, "fuzzy": 34.0}
TEMPLATES = ["{t} and {c} in a {s}", "make it {c}, {t}, {s}", "a {s} sound that is {t} and {c}",
             "{c} {t} voice with {s}", "I want {t}, {c} and {s}", "{s}: {t} {c}", "give me {c} {t} {s}",
             "{t} {c} {s} please"]


def _preset(space, tone, character) -> P.Preset:
    p = P.Preset.default()
    if SPACES[space]:
        room, wet = SPACES[space]
        p.set("reverb", "room_size", room).set("reverb", "wet", wet)
    if TONES[tone]:
        kind, freq, gain = TONES[tone]
        p.set("eq", "band5_type", kind).set("eq", "band5_freq_hz", freq).set("eq", "band5_gain_db", gain)
    if CHARACTERS[character]:
        p.set("distortion", "drive_db", CHARACTERS[character])
    return p


def make_pairs() -> list[PromptPresetPair]:
    """216 prompt/preset pairs from 27 combinations × 8 phrasings."""
    pairs = []
    for (s, t, c), tpl in itertools.product(itertools.product(SPACES, TONES, CHARACTERS), TEMPLATES):
        pairs.append(PromptPresetPair(tpl.format(s=s, t=t, c=c), _preset(s, t, c)))
    return pairs


def tiny_options(tmp_path, **kw) -> TrainOptions:
    base = dict(output_dir=tmp_path / "run", cache_dir=tmp_path / "cache", epochs=3, batch_size=32,
                learning_rate=3e-3, warmup_steps=5, stft_every=5, stft_batch=4, clip_seconds=0.25,
                sample_rate=8000, n_pairs=0,
                model={"d_model": 32, "n_self_layers": 1, "head_hidden": 32, "dropout": 0.0})
    base.update(kw)
    return TrainOptions(**base)


def _param_loss(net, ds) -> float:
    net.eval()
    with torch.no_grad():
        b = ds.batch(range(len(ds)))
        loss, _ = parameter_loss(net(b["tokens"], b["mask"], b["pooled"]), b["targets"])
    return float(loss)


def test_embedding_cache_encodes_each_prompt_once_and_persists(tmp_path):
    enc = HashEncoder()
    cache = EmbeddingCache(enc, tmp_path)
    prompts = ["warm tape", "bright and airy", "warm tape", "a big hall"]
    assert cache.ensure(prompts) == 3
    calls = enc.calls
    assert cache.ensure(prompts) == 0 and enc.calls == calls
    tokens, mask, pooled = cache.batch(cache.rows(prompts))
    ref = enc.encode(prompts)
    assert tokens.shape == (4, 3, 32) and mask.sum(1).tolist() == [2, 3, 2, 3]
    assert torch.allclose(tokens[mask], ref.tokens[ref.mask], atol=1e-2)  # float16 on disk
    assert torch.allclose(pooled, ref.pooled, atol=1e-3)
    fresh = EmbeddingCache(enc, tmp_path)  # a new run reads the shards, never the encoder
    assert len(fresh) == 3 and fresh.ensure(prompts) == 0 and enc.calls == calls + 1
    other = EmbeddingCache(HashEncoder(name="another-encoder"), tmp_path)
    assert len(other) == 0  # keyed by encoder name


def test_pair_and_description_files(tmp_path):
    preset = P.Preset.default().set("reverb", "wet", 0.7)
    (tmp_path / "wet.json").write_text(preset.to_json())
    jl = tmp_path / "pairs.jsonl"
    jl.write_text(json.dumps({"prompt": "soaking wet", "preset": preset.to_dict()}) + "\n\n"
                  + json.dumps({"prompt": "also wet", "preset": "wet.json"}) + "\n")
    pairs = load_pairs_file(jl)
    assert [p.prompt for p in pairs] == ["soaking wet", "also wet"]
    assert all(p.preset.values["reverb"]["wet"] == pytest.approx(0.7) for p in pairs)
    desc = tmp_path / "words.txt"
    desc.write_text("# my words\nlike a swimming pool => wet.json  # comment\n\n")
    d = load_description_file(desc)
    assert d[0].prompt == "like a swimming pool" and d[0].preset.enabled["reverb"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "x", "preset": {"reverb": {"wet": 3.0}}}) + "\n")
    with pytest.raises(PresetFileError, match=r"bad.jsonl:1.*wet"):
        load_pairs_file(bad)
    (tmp_path / "bad.txt").write_text("no arrow here\n")
    with pytest.raises(PresetFileError, match=r"bad.txt:1"):
        load_description_file(tmp_path / "bad.txt")
    with pytest.raises(InputNotFoundError):
        load_pairs_file(tmp_path / "missing.jsonl")


def test_clip_bank_has_varied_non_silent_clips():
    bank = clip_bank(8000, 0.25, seed=1)
    assert bank.shape[1:] == (1, 2000) and bank.shape[0] >= 12
    rms = bank.pow(2).mean(-1).sqrt().flatten()
    assert float(rms.min()) > 1e-3
    assert torch.isfinite(bank).all()


def test_stft_loss_is_zero_for_equal_signals_and_grows_with_difference():
    x = clip_bank(8000, 0.25)[:4]
    assert float(multi_resolution_stft_loss(x, x)) < 1e-6
    small = float(multi_resolution_stft_loss(x * 0.9, x))
    large = float(multi_resolution_stft_loss(x * 0.3, x))
    assert 0 < small < large


def test_tiny_training_run_lowers_the_loss_and_beats_the_constant_predictor(tmp_path):
    pairs = make_pairs()
    assert len(pairs) == 216
    enc = HashEncoder()
    events = []
    torch.manual_seed(0)
    result = train(tiny_options(tmp_path, epochs=20, learning_rate=5e-3), events.append, encoder=enc,
                   pairs=pairs, heldout={"train_set": pairs})
    steps = [e for e in events if e["event"] == "step"]
    assert len(steps) == result.steps == 20 * 7
    assert any(e["stft_loss"] is not None for e in steps)
    first = sum(e["param_loss"] for e in steps[:5]) / 5
    last = sum(e["param_loss"] for e in steps[-5:]) / 5
    assert last < 0.5 * first
    m = result.heldout["train_set"]
    assert m["mae"] < 0.5 * m["constant_mae"]
    assert m["enabled_accuracy"] > 0.9
    # the final checkpoint loads as a model and predicts the corpus rule
    from audiomanip.inference.loader import load_model

    model = load_model(checkpoint_path=result.checkpoint, encoder=enc, backend="torch")
    pred = model.predict("huge hall and fuzzy, dark").preset
    assert pred.enabled["reverb"] and pred.enabled["distortion"]
    assert pred.values["distortion"]["drive_db"] > 20.0
    assert model.info["trained"]["steps"] == result.steps


def test_ctrl_c_writes_a_resumable_checkpoint_and_resume_matches_an_uninterrupted_run(tmp_path):
    from audiomanip.checkpoint import load_checkpoint

    pairs = make_pairs()[:96]
    opts = dict(epochs=2, stft_every=0, batch_size=16)  # 6 steps per epoch
    enc = HashEncoder()

    def interrupt_at_8(event):
        if event["event"] == "step" and event["step"] == 8:
            raise KeyboardInterrupt

    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_options(tmp_path, **opts), interrupt_at_8, encoder=enc, pairs=pairs)
    ckpt = tmp_path / "run" / "interrupted"
    state, config = load_checkpoint(ckpt)
    assert config["training_state"]["step"] == 8
    assert any(k.startswith("__optimizer__.") for k in state)

    events = []
    resumed = train(tiny_options(tmp_path, resume=ckpt, output_dir=tmp_path / "resumed", **opts), events.append,
                    encoder=enc, pairs=pairs)
    assert [e["step"] for e in events if e["event"] == "step"] == [9, 10, 11, 12]
    torch.manual_seed(0)
    straight = train(tiny_options(tmp_path, output_dir=tmp_path / "straight", **opts), None,
                     encoder=enc, pairs=pairs)
    a, _ = load_checkpoint(resumed.checkpoint)
    b, _ = load_checkpoint(straight.checkpoint)
    for k in b:
        if not k.startswith("__optimizer__."):
            assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_heldout_metrics_and_constant_predictor_on_known_targets(tmp_path):
    pairs = make_pairs()
    ds = PairDataset(pairs, EmbeddingCache(HashEncoder(), None))
    const = constant_predictor(ds)
    # reverb is enabled in 2/3 of the pairs, so the constant predictor says "enabled"
    assert const["reverb"]["enabled"] == 1.0 and const["pitch"]["enabled"] == 0.0
    wet_idx = [n for n, _, _ in P.effect("reverb").continuous()].index("wet")
    assert float(const["reverb"]["continuous"][wet_idx]) == pytest.approx((0.2 + 0.5) / 2, abs=1e-6)

    class Oracle(torch.nn.Module):
        """Returns the targets themselves: MAE 0 and perfect accuracies."""

        def forward(self, tokens, mask, pooled, view=None):
            rows = [ds.rows.index(ds.cache.rows([p])[0]) for p in self.prompts]
            t = ds.batch(rows)["targets"]
            return {e: {"enabled_logit": v["enabled"] * 20 - 10, "continuous": v["continuous"],
                        "choice_logits": torch.nn.functional.one_hot(v["choices"], 5).float()
                        if v["choices"].shape[1] else torch.zeros(len(rows), 0, 0)} for e, v in t.items()}

    oracle = Oracle()
    original_batch = ds.batch

    def batch_with_prompts(idx):
        b = original_batch(idx)
        oracle.prompts = b["prompts"]
        return b

    ds.batch = batch_with_prompts
    m = heldout_metrics(oracle, ds, const)
    assert m["mae"] == 0.0 and m["enabled_accuracy"] == 1.0 and m["band_type_accuracy"] == 1.0
    assert 0.02 < m["constant_mae"] < 0.2
    # with explicit values applied (none in these prompts) the scores are the same
    mx = heldout_metrics(oracle, ds, const, apply_explicit=True)
    assert mx["mae"] == pytest.approx(0.0, abs=1e-6) and mx["enabled_accuracy"] == 1.0
    assert mx["constant_mae"] == pytest.approx(m["constant_mae"], rel=1e-4)


def test_cli_dry_run_reports_parameter_counts():
    from audiomanip.commands.app import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["train", "--dry-run", "--d-model", "64", "--layers", "1"])
    assert result.exit_code == 0, result.output
    from audiomanip.model.network import ModelConfig, PresetNet, count_parameters

    expected = count_parameters(PresetNet(ModelConfig(d_model=64, n_self_layers=1)))
    assert f"{expected:,}" in result.output
    assert "head: eq (41 outputs)" in result.output and "nothing was trained" in result.output


def test_cli_trains_on_a_pair_file_and_exports_a_loadable_model(tmp_path):
    from audiomanip.commands.app import app
    from typer.testing import CliRunner

    from audiomanip.inference.loader import load_model

    lines = [json.dumps({"prompt": p.prompt, "preset": p.preset.to_dict()}) for p in make_pairs()[::4]]
    (tmp_path / "pairs.jsonl").write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(app, [
        "train", "--pairs", "0", "--dataset-path", str(tmp_path / "pairs.jsonl"), "--epochs", "2",
        "--batch-size", "16", "--d-model", "16", "--layers", "0", "--stft-every", "0", "--device", "cpu",
        "--cache-dir", str(tmp_path / "cache"), "--output-dir", str(tmp_path / "run"), "--text-adapter", "8",
        "--export", str(tmp_path / "exported")])
    assert result.exit_code == 0, result.output
    model = load_model(checkpoint_path=tmp_path / "exported", backend="torch")
    assert model.info["trained"]["steps"] == 8 and model.info["parameters"] > 0
    assert model.net.config.text_adapter == 8
    assert "training_state" not in model.config  # the export carries no optimizer state
    assert model.predict("pitch down 3 semitones").preset.values["pitch"]["semitones"] == -3.0
    # the export carries the known words of --explain: the training descriptors' forms, the words of
    # the training prompts, and what the model does for each word
    from audiomanip.vocab.descriptors import load_descriptors
    from audiomanip.explain import load_known_words

    known = load_known_words(tmp_path / "exported")
    assert known is not None and "bright" in known.words and set(known.sources) == {"authored"}
    assert not {f for d in load_descriptors().values() if d.heldout for f in d.forms} & set(known.words)
    assert {w for line in lines for w in json.loads(line)["prompt"].lower().split() if w.isalpha()} <= known.vocabulary
    (entry,) = model.explain("brightt")
    assert entry.word == "brightt" and entry.neighbours[0].word.startswith("bright")


def test_init_from_loads_every_weight_and_keeps_a_new_adapter_as_identity(tiny_model):
    import torch

    from audiomanip.checkpoint import load_checkpoint
    from audiomanip.errors import UsageError
    from audiomanip.model.network import ModelConfig, PresetNet
    from audiomanip.training.checkpoints import init_weights

    state, config = load_checkpoint(tiny_model)
    cfg = dict(config["model"], text_adapter=16)
    net = PresetNet(ModelConfig.from_dict(cfg))
    record = init_weights(net, tiny_model)
    assert record["weights_sha256"] == config["checkpoint"]["weights_sha256"] and record["path"] == str(tiny_model)
    own = net.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items())
    x = torch.randn(2, 3, cfg["text_dim"])
    assert torch.equal(net.adapter(x), x)  # the new adapter starts as the identity
    with pytest.raises(UsageError, match="do not fit"):
        init_weights(PresetNet(ModelConfig.from_dict(dict(cfg, d_model=64))), tiny_model)


def test_init_from_an_older_profile_view_starts_boost_and_cut_from_its_one_factor(tmp_path):
    """A profile view saved with one factor output per amount (before the boost/cut split) starts
    both outputs of each amount from it."""
    import torch

    from audiomanip.checkpoint import save_checkpoint
    from audiomanip.model import model_config_dict
    from audiomanip.model.network import ModelConfig, PresetNet
    from audiomanip.training.checkpoints import init_weights

    cfg = ModelConfig(text_dim=32, d_model=32, n_heads=4, head_hidden=32, n_self_layers=1, audio_view="profile")
    old = PresetNet(cfg)
    n = old.context.n_amounts
    torch.nn.init.normal_(old.context.mix[-1].weight, std=0.3)
    state = {k: (v[:n].clone() if k.startswith("context.mix.2.") else v) for k, v in old.state_dict().items()}
    ckpt = save_checkpoint(tmp_path / "old", state, model_config_dict(old, "hash"))
    net = PresetNet(cfg)
    init_weights(net, ckpt)
    w = net.context.mix[-1].weight.detach()
    assert torch.equal(w[:n], state["context.mix.2.weight"]) and torch.equal(w[n:], state["context.mix.2.weight"])


def test_view_only_training_leaves_the_words_only_path_bit_identical(tmp_path):
    """``view_only``: the profile view's encoder alone learns; every other weight, and so every
    words-only prediction, stays as the starting checkpoint had it."""
    from audiomanip.checkpoint import load_checkpoint

    pairs = make_pairs()
    enc = HashEncoder()
    model = {"d_model": 32, "n_self_layers": 1, "head_hidden": 32, "dropout": 0.0, "audio_view": "profile"}
    first = train(tiny_options(tmp_path / "a", epochs=1, max_steps=3, model=model), encoder=enc, pairs=pairs)
    second = train(tiny_options(tmp_path / "b", epochs=1, max_steps=3, model=model, init_from=first.checkpoint,
                                view_only=True, learning_rate=1e-2), encoder=enc, pairs=pairs)
    before, _ = load_checkpoint(first.checkpoint)
    after, _ = load_checkpoint(second.checkpoint)
    weights = [k for k in before if not k.startswith("__optimizer__")]
    moved = [k for k in weights if not torch.equal(before[k], after[k])]
    assert moved and all(k.startswith("context.") for k in moved)
