"""Checkpoints: round trip, damage detection, refusal of pickles, discovery order."""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import subprocess
import sys

import pytest
import torch

from audiomanip import checkpoint as ckpt
from audiomanip.errors import CheckpointError
from audiomanip.params import SCHEMA_VERSION


def _state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "layer.weight": torch.randn(16, 8, generator=g),
        "layer.bias": torch.randn(16, generator=g),
        "norm.weight": torch.rand(8, generator=g).to(torch.float64),
        "steps": torch.tensor(seed + 3, dtype=torch.int64),
        "table": torch.arange(12, dtype=torch.int32).reshape(3, 4),
    }


def _config(dim: int = 384) -> dict:
    return {
        "format": "test-model",
        "encoder": {"name": "all-MiniLM-L6-v2", "dim": dim},
        "model": {"class": "Tiny", "init_kwargs": {"width": 16}},
        "training": {"recipe": "unit-test", "steps": 3},
        "metrics": {"loss": 0.25},
    }


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert torch.equal(a[k], b[k]), k


# --------------------------------------------------------------------------- round trip
def test_folder_round_trip_keeps_weights_and_config(tmp_path):
    target = tmp_path / "runs" / "model-a"
    written = ckpt.save_checkpoint(target, _state(), _config())
    assert written == target
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.safetensors"]
    state, config = ckpt.load_checkpoint(target)
    _assert_same(state, _state())
    assert config["schema_version"] == SCHEMA_VERSION
    assert config["model"] == {"class": "Tiny", "init_kwargs": {"width": 16}}
    assert config["metrics"] == {"loss": 0.25}
    record = config["checkpoint"]
    assert record["weights_bytes"] == (target / "model.safetensors").stat().st_size
    assert record["format_version"] == ckpt.CHECKPOINT_FORMAT_VERSION
    # The same checkpoint is found through its weights file or its config file.
    _assert_same(ckpt.load_checkpoint(target / "model.safetensors")[0], _state())
    _assert_same(ckpt.load_checkpoint(target / "config.json")[0], _state())
    assert ckpt.load_checkpoint_config(target)["training"]["steps"] == 3


def test_file_round_trip_with_sibling_json(tmp_path):
    target = tmp_path / "small.safetensors"
    ckpt.save_checkpoint(target, _state(1), _config())
    assert (tmp_path / "small.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.json", "small.safetensors"]
    state, config = ckpt.load_checkpoint(tmp_path / "small.json")
    _assert_same(state, _state(1))
    assert config["encoder"] == {"name": "all-MiniLM-L6-v2", "dim": 384}


def test_saving_again_replaces_the_checkpoint_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "model"
    ckpt.save_checkpoint(target, _state(1), _config())
    ckpt.save_checkpoint(target, _state(2), _config())
    _assert_same(ckpt.load_checkpoint(target)[0], _state(2))
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.safetensors"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    target = tmp_path / "model"
    ckpt.save_checkpoint(target, _state(1), _config())
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(target, _state(2), _config())
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before  # no temp file, nothing changed
    _assert_same(ckpt.load_checkpoint(target)[0], _state(1))
    # A new folder interrupted midway does not appear at all.
    monkeypatch.setattr(ckpt.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(tmp_path / "fresh", _state(2), _config())
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_config_without_encoder_is_rejected_before_writing(tmp_path):
    with pytest.raises(ValueError, match="encoder"):
        ckpt.save_checkpoint(tmp_path / "m", _state(), {"model": {}})
    with pytest.raises(TypeError, match="torch.Tensor"):
        ckpt.save_checkpoint(tmp_path / "m", {"w": [1, 2, 3]}, _config())
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- damage
def test_truncated_weights_are_a_clear_error(tmp_path):
    target = tmp_path / "model"
    ckpt.save_checkpoint(target, _state(), _config())
    weights = target / "model.safetensors"
    size = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[: size // 2])
    with pytest.raises(CheckpointError) as err:
        ckpt.load_checkpoint(target)
    message = str(err.value)
    assert "truncated" in message and str(size) in message and str(size // 2) in message


def test_truncated_weights_without_a_record_are_a_clear_error(tmp_path):
    """A hand-made config (no size/SHA record): safetensors' own parsing catches the damage."""
    target = tmp_path / "model"
    ckpt.save_checkpoint(target, _state(), _config())
    config = json.loads((target / "config.json").read_text())
    del config["checkpoint"]
    (target / "config.json").write_text(json.dumps(config))
    weights = target / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-40])
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        ckpt.load_checkpoint(target)


def test_changed_weights_are_detected_by_their_hash(tmp_path):
    target = tmp_path / "model"
    ckpt.save_checkpoint(target, _state(), _config())
    weights = target / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF  # one byte of tensor data: still a valid safetensors file
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its config"):
        ckpt.load_checkpoint(target)


def test_wrong_schema_version_names_both_versions(tmp_path):
    target = tmp_path / "model"
    ckpt.save_checkpoint(target, _state(), dict(_config(), schema_version=SCHEMA_VERSION + 41))
    with pytest.raises(CheckpointError) as err:
        ckpt.load_checkpoint(target)
    message = str(err.value)
    assert f"version {SCHEMA_VERSION + 41}" in message and f"schema version {SCHEMA_VERSION}" in message
    assert "retrain" in message


def test_other_encoder_size_names_expected_and_found(tmp_path):
    target = tmp_path / "model"
    ckpt.save_checkpoint(target, _state(), _config(dim=384))
    with pytest.raises(CheckpointError) as err:
        ckpt.load_checkpoint(target, expected_encoder_dim=768)
    message = str(err.value)
    assert "384-d" in message and "768-d" in message and "all-MiniLM-L6-v2" in message
    assert ckpt.load_checkpoint(target, expected_encoder_dim=384)[1]["encoder"]["dim"] == 384


def test_unreadable_config_and_missing_parts(tmp_path):
    target = tmp_path / "model"
    ckpt.save_checkpoint(target, _state(), _config())
    (target / "config.json").write_text("{ not json")
    with pytest.raises(CheckpointError, match="not readable JSON"):
        ckpt.load_checkpoint(target)
    (target / "config.json").unlink()
    with pytest.raises(CheckpointError, match="no config"):
        ckpt.load_checkpoint(target)
    with pytest.raises(CheckpointError, match="does not exist"):
        ckpt.load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="holds no model.safetensors"):
        ckpt.load_checkpoint(tmp_path / "empty")


def test_shape_check_lists_mismatches_without_a_traceback():
    expected = {"a.weight": torch.zeros(4, 384), "a.bias": torch.zeros(4), "b": torch.zeros(2)}
    found = {"a.weight": torch.zeros(4, 768), "a.bias": torch.zeros(4), "c": torch.zeros(1)}
    with pytest.raises(CheckpointError) as err:
        ckpt.check_state_shapes(found, expected, source="ckpt-x")
    message = str(err.value)
    assert "(4, 384)" in message and "(4, 768)" in message
    assert "missing" in message and "unexpected" in message
    ckpt.check_state_shapes(expected, expected)


# --------------------------------------------------------------------------- pickles
class _TouchOnUnpickle:
    """Unpickling this object runs ``pathlib.Path.touch(marker)``: a stand-in for malware."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_malicious_pickles_are_refused_and_never_run(tmp_path):
    # The payload is real: unpickling it creates its marker.
    control = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(_TouchOnUnpickle(control)))
    assert control.exists()

    marker = tmp_path / "pwned-marker"
    payload = pickle.dumps(_TouchOnUnpickle(marker))
    candidates = []
    for suffix in (".pt", ".pth", ".ckpt", ".pkl", ".bin"):
        f = tmp_path / f"evil{suffix}"
        f.write_bytes(payload)
        candidates.append(f)
    zipped = tmp_path / "evil_zip.pt"
    torch.save(_TouchOnUnpickle(marker), zipped)  # torch's zip format with the payload inside
    candidates.append(zipped)
    # A folder holding only a pickle checkpoint.
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "pytorch_model.bin").write_bytes(payload)
    candidates.append(legacy)
    # Pickles renamed to model.safetensors beside a valid config.
    for name, data in (("renamed", payload), ("renamed_zip", zipped.read_bytes())):
        folder = tmp_path / name
        ckpt.save_checkpoint(folder, _state(), _config())
        config = json.loads((folder / "config.json").read_text())
        del config["checkpoint"]  # no recorded hash: the file must fail on its own
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "model.safetensors").write_bytes(data)
        candidates.append(folder)

    for path in candidates:
        with pytest.raises(CheckpointError) as err:
            ckpt.load_checkpoint(path)
        message = str(err.value)
        assert "refus" in message or "not a valid safetensors" in message, message
        assert not marker.exists(), f"loading {path} ran the payload"
    with pytest.raises(CheckpointError, match="pickle"):
        ckpt.find_checkpoint(checkpoint_path=tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="pytorch_model.bin"):
        ckpt.load_checkpoint(legacy)
    assert not marker.exists()


# --------------------------------------------------------------------------- discovery
def _save_at(path: pathlib.Path, mtime: float, seed: int = 0) -> pathlib.Path:
    ckpt.save_checkpoint(path, _state(seed), _config())
    weights, config = ckpt.checkpoint_files(path)
    for f in (weights, config):
        os.utime(f, (mtime, mtime))
    return path


def test_discovery_order(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    old = _save_at(runs / "old", 1_000_000)
    new = _save_at(runs / "new", 2_000_000)
    flat = _save_at(runs / "flat.safetensors", 1_500_000)
    # Unfinished saves and unrelated files are not candidates, however new.
    staging = runs / f".late{ckpt._TMP_MARK}123-abcd"
    staging.mkdir()
    (staging / "model.safetensors").write_bytes(b"x")
    (staging / "config.json").write_text("{}")
    (runs / "notes.txt").write_text("hello")
    (runs / "orphan.safetensors").write_bytes(b"no json beside me")

    assert ckpt.list_checkpoints(runs) == [new, flat, old]
    assert ckpt.find_checkpoint(checkpoint_dir=runs) == new
    os.utime(flat, (3_000_000, 3_000_000))
    assert ckpt.find_checkpoint(checkpoint_dir=runs) == flat

    # An explicit path wins over a folder.
    assert ckpt.find_checkpoint(checkpoint_path=old, checkpoint_dir=runs) == old
    with pytest.raises(CheckpointError, match="does not exist"):
        ckpt.find_checkpoint(checkpoint_path=tmp_path / "missing")

    # Neither: the shipped default model.
    default = _save_at(tmp_path / "default_model", 500_000)
    monkeypatch.setattr(ckpt, "DEFAULT_MODEL_DIR", default)
    assert ckpt.find_checkpoint() == default
    assert ckpt.find_checkpoint(checkpoint_dir=runs) == flat  # a folder wins over the default

    # A given folder without checkpoints is an error, not a silent fall-back to the default.
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        ckpt.find_checkpoint(checkpoint_dir=tmp_path / "empty")
    with pytest.raises(CheckpointError, match="does not exist"):
        ckpt.find_checkpoint(checkpoint_dir=tmp_path / "nope")
    monkeypatch.setattr(ckpt, "DEFAULT_MODEL_DIR", tmp_path / "empty")
    with pytest.raises(CheckpointError, match="audiomanip train"):
        ckpt.find_checkpoint()


def test_default_model_dir_is_inside_the_package():
    import audiomanip

    assert ckpt.DEFAULT_MODEL_DIR == pathlib.Path(audiomanip.__file__).resolve().parent / "default_model"


def test_importing_checkpoint_and_text_does_not_import_torch():
    code = ("import sys, audiomanip.checkpoint, audiomanip.text; "
            "print(sorted(m for m in ('torch', 'safetensors', 'sentence_transformers', 'tokenizers') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
