"""Untrusted model checkpoints through the command line (issue 6): `--checkpoint-path` /
`--checkpoint-dir` of apply, batch and export-preset.

A checkpoint may be missing, truncated, damaged, made for another schema or text encoder, carry
a config that asks for an absurd network, or be a pickle crafted to run code when unpickled.
Each must end in one stderr line with the checkpoint exit code, and no pickle is ever run (the
payload below really creates its marker file when unpickled). The library-level checks are in
tests/test_checkpoint.py and tests/test_model.py.
"""

from __future__ import annotations

import json
import pathlib
import pickle
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from cli_helpers import assert_user_error, invoke

from audiomanip import checkpoint as ckpt
from audiomanip.training.sources import sine
from audiomanip.errors import CheckpointError
from audiomanip.model.network import ModelConfig, PresetNet
from audiomanip.model.preset_model import model_config_dict
from audiomanip.params import SCHEMA_VERSION, Preset

SR = 16000
CODE = CheckpointError.exit_code


def _save(
    path: pathlib.Path,
    text_dim: int = 384,
    d_model: int = 32,
    encoder: str = "all-MiniLM-L6-v2",
    seed: int = 0,
) -> pathlib.Path:
    torch.manual_seed(seed)
    net = PresetNet(
        ModelConfig(text_dim=text_dim, d_model=d_model, n_heads=4, head_hidden=32, n_self_layers=1)
    )
    ckpt.save_checkpoint(path, net.state_dict(), model_config_dict(net, encoder, extra={"name": path.name}))
    return path


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> pathlib.Path:
    """A small, valid, untrained checkpoint (folder) with the default text encoder."""
    return _save(tmp_path_factory.mktemp("ckpt") / "good")


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sf.write(tmp_path / "tone.wav", sine(440.0, 0.3, SR, amplitude=0.3).T, SR)
    return tmp_path


def copy(good: pathlib.Path, work: pathlib.Path, name: str = "ckpt") -> pathlib.Path:
    dst = work / name
    shutil.copytree(good, dst)
    return dst


def edit_config(folder: pathlib.Path, change) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


def apply_with(path, *extra):
    return invoke(
        "apply",
        "tone.wav",
        "warm tape",
        "--checkpoint-path",
        path,
        "--device",
        "cpu",
        "--dry-run",
        "--json",
        *extra,
    )


def test_the_valid_checkpoint_works(work, good):
    res = apply_with(good)
    assert res.exit_code == 0, res.output
    Preset.from_dict(json.loads(res.stdout)["preset"], strict=True)


# ------------------------------------------------------------------ missing, incomplete, damaged
def _missing(work, good):
    return work / "no_such_model"


def _empty_folder(work, good):
    (work / "empty").mkdir()
    return work / "empty"


def _config_only(work, good):
    folder = copy(good, work)
    (folder / "model.safetensors").unlink()
    return folder


def _weights_only(work, good):
    folder = copy(good, work)
    (folder / "config.json").unlink()
    return folder


def _truncated_weights(work, good):
    folder = copy(good, work)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 3])
    return folder


def _truncated_weights_no_record(work, good):
    folder = _truncated_weights(work, good)
    edit_config(folder, lambda c: c.pop("checkpoint"))
    return folder


def _flipped_byte(work, good):
    folder = copy(good, work)
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[len(data) // 2] ^= 0x40
    (folder / "model.safetensors").write_bytes(bytes(data))
    return folder


def _huge_header(work, good):
    """A safetensors header length of 2**62 bytes."""
    folder = copy(good, work)
    edit_config(folder, lambda c: c.pop("checkpoint"))
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes((2**62).to_bytes(8, "little") + data[8:])
    return folder


def _truncated_config(work, good):
    folder = copy(good, work)
    text = (folder / "config.json").read_text()
    (folder / "config.json").write_text(text[: len(text) // 2])
    return folder


def _config_is_a_list(work, good):
    folder = copy(good, work)
    (folder / "config.json").write_text("[1, 2, 3]")
    return folder


def _not_our_format(work, good):
    folder = copy(good, work)
    edit_config(folder, lambda c: c.pop("format"))
    return folder


def _weights_of_another_size(work, good):
    """The weights of a bigger network beside the config of the small one."""
    other = _save(work / "other", d_model=64)
    folder = copy(good, work)
    shutil.copy(other / "model.safetensors", folder / "model.safetensors")
    edit_config(folder, lambda c: c.pop("checkpoint"))
    return folder


@pytest.mark.parametrize(
    "make, words",
    [
        (_missing, ["no_such_model", "does not exist"]),
        (_empty_folder, ["empty"]),
        (_config_only, ["model.safetensors"]),
        (_weights_only, ["config"]),
        (_truncated_weights, ["truncated"]),
        (_truncated_weights_no_record, ["not a valid safetensors"]),
        (_flipped_byte, ["SHA-256"]),
        (_huge_header, ["not a valid safetensors"]),
        (_truncated_config, ["config.json", "JSON"]),
        (_config_is_a_list, ["config.json"]),
        (_not_our_format, ["not an audiomanip"]),
        (_weights_of_another_size, ["do not fit"]),
    ],
    ids=[
        "missing",
        "empty-folder",
        "config-only",
        "weights-only",
        "truncated",
        "truncated-no-record",
        "flipped-byte",
        "huge-header",
        "truncated-config",
        "config-list",
        "not-our-format",
        "other-size",
    ],
)
def test_broken_checkpoints_are_one_line(work, good, make, words):
    path = make(work, good)
    assert_user_error(apply_with(path), CODE, *words)
    assert not (work / "output").exists()


# ------------------------------------------------------------------ incompatible
def test_other_schema_version(work, good):
    folder = copy(good, work)
    edit_config(folder, lambda c: c.update(schema_version=SCHEMA_VERSION + 1))
    line = assert_user_error(
        apply_with(folder), CODE, "schema version", str(SCHEMA_VERSION + 1), str(SCHEMA_VERSION)
    )
    assert "retrain" in line


def test_other_effect_schema(work, good):
    folder = copy(good, work)
    edit_config(folder, lambda c: c["heads"][0]["continuous"].append("formant_shift"))
    assert_user_error(apply_with(folder), CODE, "different effect schema")


def test_network_for_another_encoder_size(work):
    """Trained on 768-d tokens (e.g. all-mpnet-base-v2), but naming the 384-d MiniLM."""
    path = _save(work / "wide", text_dim=768)
    line = assert_user_error(apply_with(path), CODE, "384", "768")
    assert "wide" in line or "encoder" in line


def test_config_that_contradicts_its_encoder_size(work, good):
    folder = copy(good, work)
    edit_config(folder, lambda c: c["encoder"].update(dim=768))
    assert_user_error(apply_with(folder), CODE, "768", "384")


def test_encoder_that_is_not_on_this_machine(work, good):
    folder = copy(good, work)
    edit_config(folder, lambda c: c["encoder"].update(name="someone/encoder-never-downloaded"))
    assert_user_error(apply_with(folder), CODE, "encoder-never-downloaded")


@pytest.mark.parametrize(
    "change, words",
    [
        ({"n_heads": 0}, []),
        ({"d_model": -8}, []),
        ({"dropout": "lots"}, []),
        ({"audio_view": "telepathy"}, ["audio_view"]),
        ({"n_self_layers": 100_000}, ["n_self_layers"]),
        ({"d_model": 1 << 20}, ["d_model"]),  # would need terabytes: refused before allocating
        ({"surprise": 1}, ["surprise"]),
    ],
    ids=[
        "zero-heads",
        "negative-size",
        "bad-type",
        "unknown-view",
        "100k-layers",
        "huge-width",
        "unknown-key",
    ],
)
def test_hostile_model_configs_are_refused_before_building(work, good, change, words):
    folder = copy(good, work)
    edit_config(folder, lambda c: c["model"].update(change))
    assert_user_error(apply_with(folder), CODE, "ckpt", *words)


# ------------------------------------------------------------------ pickles are never run
class _TouchOnUnpickle:
    """Unpickling this object runs ``pathlib.Path.touch(marker)``: a stand-in for malware."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _pickle_candidates(
    work: pathlib.Path, good: pathlib.Path, marker: pathlib.Path
) -> dict[str, pathlib.Path]:
    payload = pickle.dumps(_TouchOnUnpickle(marker))
    out: dict[str, pathlib.Path] = {}
    for suffix in (".pt", ".pth", ".ckpt", ".bin", ".pkl"):
        (work / f"evil{suffix}").write_bytes(payload)
        out[suffix] = work / f"evil{suffix}"
    torch.save(_TouchOnUnpickle(marker), work / "evil_zip.pt")
    out["torch-zip"] = work / "evil_zip.pt"
    legacy = work / "legacy"
    legacy.mkdir()
    (legacy / "pytorch_model.bin").write_bytes(payload)
    out["folder-with-pytorch_model.bin"] = legacy
    for name, data in (
        ("renamed-pickle", payload),
        ("renamed-torch-zip", (work / "evil_zip.pt").read_bytes()),
    ):
        folder = copy(good, work, name)
        edit_config(folder, lambda c: c.pop("checkpoint"))  # no recorded hash: the file must fail on its own
        (folder / "model.safetensors").write_bytes(data)
        out[name] = folder
    flat = work / "flat.safetensors"
    flat.write_bytes(payload)
    shutil.copy(good / "config.json", work / "flat.json")
    edit_config_file = work / "flat.json"
    config = json.loads(edit_config_file.read_text())
    config.pop("checkpoint")
    edit_config_file.write_text(json.dumps(config))
    out["flat-safetensors-pickle"] = flat
    return out


def test_malicious_pickles_are_refused_and_never_run(work, good):
    control = work / "control-marker"
    pickle.loads(pickle.dumps(_TouchOnUnpickle(control)))
    assert control.exists()  # the payload is real

    marker = work / "pwned-marker"
    for name, path in _pickle_candidates(work, good, marker).items():
        line = assert_user_error(apply_with(path), CODE)
        assert "refus" in line or "not a valid safetensors" in line or "pytorch_model.bin" in line, (
            name,
            line,
        )
        assert not marker.exists(), f"loading {name} ran the payload"
    # through batch and export-preset, and a --checkpoint-dir holding only pickles
    assert_user_error(
        invoke("batch", ".", "--prompt", "warm", "--checkpoint-path", work / "evil.pt", "--device", "cpu"),
        CODE,
        "pickle",
    )
    assert_user_error(
        invoke("export-preset", "warm", "--checkpoint-path", work / "evil.ckpt", "--device", "cpu"),
        CODE,
        "pickle",
    )
    only_pickles = work / "runs"
    only_pickles.mkdir()
    shutil.copy(work / "evil.pt", only_pickles / "model.pt")
    assert_user_error(
        invoke("apply", "tone.wav", "warm", "--checkpoint-dir", only_pickles, "--device", "cpu"),
        CODE,
        "no checkpoint",
    )
    assert not marker.exists()
    assert not (work / "output").exists()


# ------------------------------------------------------------------ discovery
def test_no_default_model_says_how_to_get_one(work, monkeypatch):
    monkeypatch.setattr(ckpt, "DEFAULT_MODEL_DIR", work / "nothing_shipped")
    assert_user_error(invoke("apply", "tone.wav", "warm", "--device", "cpu"), CODE, "audiomanip train")


def test_mutated_weights_never_crash(work, good):
    """Seeded random damage to the weights file (record removed, so the bytes must speak for
    themselves): every load ends in the checkpoint error or a working model, never a crash."""
    from audiomanip.inference.loader import load_model

    rng = np.random.default_rng(6)
    original = (good / "model.safetensors").read_bytes()
    folder = copy(good, work)
    edit_config(folder, lambda c: c.pop("checkpoint"))
    outcomes = {"error": 0, "ok": 0}
    for _ in range(40):
        data = bytearray(original)
        kind = rng.integers(3)
        if kind == 0:  # header bytes (the JSON that describes the tensors)
            for pos in rng.integers(0, min(len(data), 400), size=rng.integers(1, 8)):
                data[pos] = rng.integers(256)
        elif kind == 1:
            data = data[: rng.integers(0, len(data))]
        else:
            for pos in rng.integers(0, len(data), size=rng.integers(1, 64)):
                data[pos] ^= 1 << rng.integers(8)
        (folder / "model.safetensors").write_bytes(bytes(data))
        try:
            model = load_model(checkpoint_path=folder, device="cpu", backend="torch")
        except CheckpointError as exc:
            assert "\n" not in str(exc)
            outcomes["error"] += 1
        else:
            outcomes["ok"] += 1  # damage inside the numbers: still a usable, finite model
            assert all(bool(torch.isfinite(p).all()) for p in model.net.parameters())
            if outcomes["ok"] <= 3:
                preset = model.predict("warm tape").preset
                assert all(
                    np.isfinite(float(v))
                    for e in preset.values.values()
                    for v in e.values()
                    if not isinstance(v, str)
                )
    assert outcomes["error"] >= 20, outcomes  # truncations and header damage are always caught


def test_checkpoint_that_needs_the_clap_extra(work, good):
    """A checkpoint made with CLAP text embeddings, on a machine without the `clap` extra."""
    import importlib.util

    if importlib.util.find_spec("laion_clap") is not None:
        pytest.skip("laion-clap is installed here")
    from audiomanip.errors import DependencyError

    folder = copy(good, work)
    (work / "clap.pt").write_bytes(b"not read: the missing package is reported first")
    edit_config(folder, lambda c: c["encoder"].update(name=f"clap:{work / 'clap.pt'}"))
    assert_user_error(apply_with(folder), DependencyError.exit_code, "clap")
