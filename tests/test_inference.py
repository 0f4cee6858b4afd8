"""The model at run time on ONNX Runtime: same vectors and presets as torch, weight-free graphs
that read the safetensors files, backend choice, and no torch on the runtime paths."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audiomanip.checkpoint import DEFAULT_MODEL_DIR
from audiomanip.errors import CheckpointError, DependencyError, DeviceError
from audiomanip.inference.heads import enabled_probability

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sentence_transformers", "transformers", "matplotlib", "safetensors")


def corpus_texts() -> list[str]:
    """Every text of the authored corpus: descriptor forms, named presets' names, phrases and
    descriptions, the evaluation suites' prompts, and one prompt over the encoder's limit."""
    from audiomanip.training.templates import evaluation_prompts
    from audiomanip.vocab.descriptors import load_descriptors
    from audiomanip.vocab.named_presets import load_named_presets

    texts = [f for d in load_descriptors().values() for f in d.forms]
    for named in load_named_presets().values():
        texts += [named.name, named.description, *named.phrases]
    texts += sorted(evaluation_prompts())
    texts.append("warm and bright " * 200)
    return list(dict.fromkeys(t for t in texts if t.strip()))


@pytest.fixture(scope="module")
def encoders():
    from audiomanip.inference.text_encoder import OnnxTextEncoder
    from audiomanip.text import load_text_encoder

    return OnnxTextEncoder(), load_text_encoder()


def test_onnx_text_encoder_matches_torch_on_the_whole_corpus(encoders):
    onnx_enc, torch_enc = encoders
    texts = corpus_texts()
    assert len(texts) > 1000
    a, b = onnx_enc.encode(texts), torch_enc.encode(texts)
    pooled_a, pooled_b = a.pooled, b.pooled.numpy()
    cosine = (pooled_a * pooled_b).sum(1) / np.linalg.norm(pooled_a, axis=1) / np.linalg.norm(pooled_b, axis=1)
    assert cosine.min() >= 0.99999, cosine.min()  # the criterion is 0.995: float32 weights give ~1
    assert np.array_equal(a.mask, b.mask.numpy())
    assert np.abs(a.tokens - b.tokens.numpy()).max() < 1e-4
    assert a.truncated == b.truncated and a.truncated[-1] and not any(a.truncated[:-1])
    assert onnx_enc.max_tokens == torch_enc.max_tokens == 256 and onnx_enc.dim == 384


def _compare(onnx_out, torch_out) -> float:
    """Largest difference in normalised space: continuous values, enabled probabilities,
    choice probabilities."""
    def softmax(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    worst = 0.0
    for name, o in onnx_out.items():
        t = torch_out[name]
        worst = max(worst, float(np.abs(o["continuous"] - t["continuous"]).max(initial=0)),
                    float(np.abs(enabled_probability(o["enabled_logit"]) - enabled_probability(t["enabled_logit"])).max()))
        if o["choice_logits"].size:
            worst = max(worst, float(np.abs(softmax(o["choice_logits"]) - softmax(t["choice_logits"])).max()))
    return worst


def test_onnx_predictions_equal_torch_on_every_direction_prompt():
    from audiomanip.evaluation.suites import load_direction_suite
    from audiomanip.inference.loader import load_model

    prompts = [p.prompt for p in load_direction_suite().prompts]
    onnx_model = load_model(backend="onnx", device="cpu")
    torch_model = load_model(backend="torch", device="cpu")
    assert onnx_model.backend == "onnx" and type(torch_model).__name__ == "PresetModel"
    onnx_out, onnx_cut = onnx_model.head_outputs(prompts)
    torch_out, torch_cut = torch_model.head_outputs(prompts)
    assert onnx_cut == torch_cut
    assert _compare(onnx_out, torch_out) <= 1e-3
    # the optimised graphs (many prompts: eval, long batches) agree as well
    assert _compare(load_model(backend="onnx", optimize=True).head_outputs(prompts)[0], torch_out) <= 1e-3
    # explicit values and notes are handled once, for both runtimes
    for a, b in zip(onnx_model.predict_many(prompts[:20]), torch_model.predict_many(prompts[:20])):
        assert a.explicit == b.explicit and a.notes == b.notes
        na, nb = a.preset.to_normalized(), b.preset.to_normalized()
        for name in na:
            assert np.allclose(na[name]["continuous"], nb[name]["continuous"], atol=1e-3)


def test_shipped_graphs_hold_no_weights_and_point_into_the_safetensors_files():
    import onnx

    from audiomanip.inference.text_encoder import DEFAULT_GRAPH
    from audiomanip.inference.weights import HEADER_SHA_KEY, read_header
    from audiomanip.text.loader import default_model_folder

    for graph, weights in ((DEFAULT_GRAPH, default_model_folder() / "model.safetensors"),
                           (DEFAULT_MODEL_DIR / "model.onnx", DEFAULT_MODEL_DIR / "model.safetensors")):
        assert graph.stat().st_size < 200_000, graph
        model = onnx.load(str(graph), load_external_data=False)
        header = read_header(weights)
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta[HEADER_SHA_KEY] == header.sha256
        external = [i for i in model.graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL]
        inline_bytes = sum(len(i.raw_data) for i in model.graph.initializer)
        assert inline_bytes < 4096 and len(external) >= 20
        for init in external:
            entry = dict((e.key, e.value) for e in init.external_data)
            start, end = header.tensors[init.name]["data_offsets"]
            assert entry == {"location": weights.name, "offset": str(header.data_start + start),
                             "length": str(end - start)}


def _save_like_default(folder: Path, scale: float = 1.0, **model_changes) -> Path:
    """A checkpoint with the default model's config (``model_changes`` applied) and its weights
    times ``scale`` (a fresh random network when the sizes change)."""
    import torch

    from audiomanip.checkpoint import save_checkpoint
    from audiomanip.inference.loader import load_model
    from audiomanip.model.network import ModelConfig, PresetNet

    default = load_model(DEFAULT_MODEL_DIR, backend="torch")
    config = {k: v for k, v in default.config.items() if k != "checkpoint"}
    if model_changes:
        torch.manual_seed(0)
        net = PresetNet(ModelConfig.from_dict({**config["model"], **model_changes}))
        config["model"] = net.config.to_dict()
        state = net.state_dict()
    else:
        state = {k: v * scale for k, v in default.net.state_dict().items()}
    return save_checkpoint(folder, state, config)


def test_retrained_weights_of_the_same_sizes_run_on_the_same_graph(tmp_path):
    """The graph reads the weights from the file: other weights of the same layout need no new
    graph, and the predictions follow the new weights."""
    from audiomanip.inference.loader import load_model

    ckpt = _save_like_default(tmp_path / "scaled", scale=0.9)
    shutil.copy(DEFAULT_MODEL_DIR / "model.onnx", ckpt / "model.onnx")
    prompts = ["warm vintage tape with a small room", "big cathedral reverb", "thin telephone voice"]
    scaled = load_model(ckpt, backend="onnx").head_outputs(prompts)[0]
    assert _compare(scaled, load_model(ckpt, backend="torch").head_outputs(prompts)[0]) <= 1e-3
    assert _compare(scaled, load_model(backend="onnx").head_outputs(prompts)[0]) > 1e-2


def test_export_writes_a_graph_for_another_size_and_refuses_a_stale_one(tmp_path):
    from audiomanip.inference.export import export_preset_net
    from audiomanip.inference.loader import choose_backend, load_model

    ckpt = _save_like_default(tmp_path / "small", d_model=64, n_self_layers=1, head_hidden=32)
    config = json.loads((ckpt / "config.json").read_text())
    assert choose_backend(ckpt, config) == "torch"  # no graph yet: auto runs torch
    with pytest.raises(CheckpointError, match=r"no ONNX graph model\.onnx.*python -m audiomanip\.inference\.export"):
        load_model(ckpt, backend="onnx")
    shutil.copy(DEFAULT_MODEL_DIR / "model.onnx", ckpt / "model.onnx")  # a graph of other sizes
    with pytest.raises(CheckpointError, match="exported for weights of another layout"):
        load_model(ckpt, backend="onnx")
    assert export_preset_net(ckpt) == ckpt / "model.onnx"
    assert choose_backend(ckpt, config) == "onnx"
    prompts = ["make it sound like an old radio", "dry, close and punchy"]
    assert _compare(load_model(ckpt, backend="onnx").head_outputs(prompts)[0],
                    load_model(ckpt, backend="torch").head_outputs(prompts)[0]) <= 1e-4


def test_weights_with_nan_are_refused_on_onnx_runtime(tmp_path):
    import torch

    from audiomanip.checkpoint import save_checkpoint
    from audiomanip.inference.loader import load_model

    default = load_model(DEFAULT_MODEL_DIR, backend="torch")
    state = dict(default.net.state_dict())
    state["heads.heads.reverb.net.4.bias"] = torch.full_like(state["heads.heads.reverb.net.4.bias"], float("nan"))
    ckpt = save_checkpoint(tmp_path / "nan", state, {k: v for k, v in default.config.items() if k != "checkpoint"})
    shutil.copy(DEFAULT_MODEL_DIR / "model.onnx", ckpt / "model.onnx")
    with pytest.raises(CheckpointError, match=r"1 weight tensor\(s\) hold NaN.*heads\.heads\.reverb\.net\.4\.bias"):
        load_model(ckpt, backend="onnx")


def test_device_choice_for_onnx_runtime():
    from audiomanip.device import resolve_device
    from audiomanip.inference.weights import onnx_providers

    notes: list[str] = []
    assert resolve_device("auto", notes.append, cuda_available=lambda: False, runtime="onnxruntime") == "cpu"
    assert notes == ["CUDA not available: running on CPU"]
    with pytest.raises(DeviceError, match="onnxruntime-gpu"):
        resolve_device("cuda", cuda_available=lambda: False, runtime="onnxruntime")
    assert resolve_device("cuda", cuda_available=lambda: True, runtime="onnxruntime") == "cuda"
    assert onnx_providers("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]


def test_cuda_provider_that_does_not_start_is_an_error_or_a_cpu_fallback(monkeypatch):
    """onnxruntime-gpu lists CUDA whenever it is installed; without a usable GPU its sessions
    quietly run on the CPU. The probe is made to claim CUDA (as onnxruntime-gpu's does); the
    sessions are real, and this CPU build of ONNX Runtime cannot start CUDA."""
    from audiomanip.inference import loader

    monkeypatch.setattr(loader, "onnx_cuda_available", lambda: True)
    with pytest.raises(DeviceError, match=r"--device cuda: ONNX Runtime's CUDA provider did not start"):
        loader.load_model(device="cuda", backend="onnx")
    notes: list[str] = []
    model = loader.load_model(device="auto", backend="onnx", note=notes.append)
    assert model.device == "cpu"
    assert len(notes) == 1 and notes[0].startswith("CUDA not usable (ONNX Runtime's CUDA provider did not start")
    assert notes[0].endswith("running on CPU")


def test_plot_without_matplotlib_says_how_to_install_it(monkeypatch, tmp_path):
    import importlib.util

    from audiomanip import plot

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(DependencyError, match=r"pip install 'audiomanip\[plot\]'"):
        plot.require_matplotlib()
    from cli_helpers import assert_user_error, invoke

    wav = tmp_path / "in.wav"
    import soundfile as sf

    sf.write(wav, np.zeros(4800, np.float32), 48000)
    res = invoke("apply", wav, "--preset", "warm-tape", "--plot", "--output-dir", tmp_path / "out")
    assert_user_error(res, 10, "audiomanip[plot]")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ no torch at run time
def _imported(args: list[str], cwd: Path) -> set[str]:
    """Top-level modules a fresh ``python -X importtime -m audiomanip ARGS`` imported (it must succeed)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "audiomanip", *args], cwd=cwd,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.fixture
def short_wav(tmp_path: Path) -> Path:
    import soundfile as sf

    t = np.arange(24000) / 48000
    sf.write(tmp_path / "short.wav", 0.3 * np.stack([np.sin(2 * np.pi * 220 * t)] * 2, 1), 48000)
    return tmp_path / "short.wav"


def test_model_commands_import_no_torch(short_wav, tmp_path):
    """The model's prediction (dry run), the preset list and the exported preset file."""
    runs = [
        ["apply", str(short_wav), "warm vintage tape with a small room", "--dry-run", "--device", "cpu"],
        ["apply", str(short_wav), "--preset", "warm-tape", "--dry-run"],
        ["apply", str(short_wav), "a bit darker", "--preset", "warm-tape", "--dry-run"],  # an edit in words
        ["apply", str(short_wav), "a luminous voice in a cathedrale", "--explain", "--dry-run"],
        ["presets", "--tag", "voice"],
        ["presets", "show", "cathedral"],
        ["export-preset", "big cathedral reverb", "--format", "json", "-o", str(tmp_path / "p.json")],
    ]
    for args in runs:
        heavy = _imported(args, tmp_path) & set(HEAVY)
        assert not heavy, (args, heavy)
    assert json.loads((tmp_path / "p.json").read_text())


def test_apply_imports_no_torch(short_wav, tmp_path):
    """``python -X importtime`` of apply, from a prompt and with --preset, rendering a file."""
    for args in (["apply", str(short_wav), "warm vintage tape with a small room", "-o", str(tmp_path / "a.wav")],
                 ["apply", str(short_wav), "--preset", "warm-tape", "-o", str(tmp_path / "b.wav")]):
        heavy = _imported(args, tmp_path) & set(HEAVY)
        assert not heavy, (args, heavy)


def test_explain_on_onnx_runtime_equals_torch():
    """``explain`` of the shipped model: the same nearest known words and weights on both
    backends (the ONNX Runtime encoder's sentence vectors, the known words read with numpy)."""
    from audiomanip.inference.loader import load_model

    prompt = "a luminous voice in a cathedrale, quite sparkly and distortd"
    onnx_words = load_model(backend="onnx").explain(prompt)
    torch_words = load_model(backend="torch").explain(prompt)
    assert [w.word for w in onnx_words] == ["luminous", "cathedrale", "distortd"]
    assert [w.word for w in onnx_words] == [w.word for w in torch_words]
    for a, b in zip(onnx_words, torch_words):
        assert [n.word for n in a.neighbours] == [n.word for n in b.neighbours]
        assert [n.moves for n in a.neighbours] == [n.moves for n in b.neighbours]
        assert np.allclose([n.weight for n in a.neighbours], [n.weight for n in b.neighbours], atol=1e-4)
    assert onnx_words[1].neighbours[0].word == "cathedral" and onnx_words[1].neighbours[0].weight > 0.5


def test_batch_worker_pool_starts_without_torch(tmp_path):
    """The fork server preloads the render path; no worker may hold torch."""
    script = tmp_path / "pool_probe.py"
    script.write_text(
        "import sys\n"
        "from audiomanip.batch.engine import _worker_context\n"
        "def probe(_):\n"
        "    return 'torch' in sys.modules\n"
        "if __name__ == '__main__':\n"
        "    with _worker_context().Pool(2) as pool:\n"
        "        print(any(pool.map(probe, range(4))), 'torch' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path,
                          timeout=120)
    assert proc.stdout.split() == ["False", "False"], proc.stdout
