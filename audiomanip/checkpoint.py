"""Model checkpoints: safe saving, loading and discovery.

A checkpoint is either

- a folder holding ``model.safetensors`` (the weights) and ``config.json`` (what the weights
  are), or
- a file ``NAME.safetensors`` with its sibling ``NAME.json``.

``config.json`` describes the checkpoint: ``schema_version`` (the preset schema its heads
predict, :data:`audiomanip.params.SCHEMA_VERSION`), ``encoder`` ``{name, dim}`` (the text
encoder whose tokens it reads), the model class and init arguments, the training recipe and
metrics (the model code decides those keys), and ``checkpoint`` ``{format_version,
weights_bytes, weights_sha256, saved_utc, audiomanip_version}`` written by
:func:`save_checkpoint`.

Safety: weights are read with safetensors only; nothing is ever unpickled. ``.pt``, ``.pth``,
``.ckpt``, ``.bin`` and pickle files are refused with a message saying how to convert them.
Every problem a user can cause (missing, truncated, corrupt, other schema, other encoder size)
is a :class:`~audiomanip.errors.CheckpointError` naming what was expected and what was found.

Discovery (:func:`find_checkpoint`): an explicit path, else the newest checkpoint (by
modification time) in a given folder, else the default model shipped in
:data:`DEFAULT_MODEL_DIR`.

This module imports torch and safetensors only inside the functions that need them.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from audiomanip.errors import CheckpointError
from audiomanip.params import SCHEMA_VERSION
from audiomanip.tempfiles import write_bytes

if TYPE_CHECKING:  # pragma: no cover - annotations only
    import torch


#: The folder of the default model shipped with audiomanip (filled by training).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
#: Layout version of the checkpoint files themselves (not of the preset schema).
CHECKPOINT_FORMAT_VERSION = 1
#: File suffixes that hold pickles (running code when loaded): refused.
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".joblib", ".tar")
_TMP_MARK = ".tmp-"
_CONVERT_HINT = ("if the file comes from a source you trust, convert it to safetensors: "
                 "`state = torch.load(path, weights_only=True)`, then "
                 "`audiomanip.checkpoint.save_checkpoint(folder, state, config)`")


# --------------------------------------------------------------------------- paths
def checkpoint_files(path: str | Path) -> tuple[Path, Path]:
    """``(weights, config)`` paths of a checkpoint given as a folder, a ``.safetensors`` file or
    its ``.json``. Nothing is read; the files need not exist. Pickle suffixes are refused."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"refusing to load {path}: {suffix} files are pickles, which can run arbitrary code when "
            f"loaded; audiomanip reads only safetensors checkpoints ({WEIGHTS_FILE} + {CONFIG_FILE}). "
            + _CONVERT_HINT)
    if suffix == ".safetensors":
        sibling = path.with_suffix(".json")
        if not sibling.exists() and path.name == WEIGHTS_FILE:
            sibling = path.with_name(CONFIG_FILE)
        return path, sibling
    if suffix == ".json":
        if path.name == CONFIG_FILE:
            return path.with_name(WEIGHTS_FILE), path
        return path.with_suffix(".safetensors"), path
    return path / WEIGHTS_FILE, path / CONFIG_FILE


def is_checkpoint(path: str | Path) -> bool:
    """True when ``path`` is a folder or ``.safetensors`` file whose weights and config exist."""
    try:
        weights, config = checkpoint_files(path)
    except CheckpointError:
        return False
    return weights.is_file() and config.is_file() and _TMP_MARK not in weights.name


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoints directly inside ``folder`` (sub-folders and ``NAME.safetensors`` files with a
    sibling ``NAME.json``; the folder itself when it is one), newest first by the modification
    time of their newer file."""
    folder = Path(folder).expanduser()
    found: list[Path] = []
    if is_checkpoint(folder):
        found.append(folder)
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        if _TMP_MARK in entry.name or entry.name.startswith("."):
            continue
        if entry.is_dir() and is_checkpoint(entry):
            found.append(entry)
        elif entry.suffix == ".safetensors" and entry.name != WEIGHTS_FILE and is_checkpoint(entry):
            found.append(entry)
    return sorted(found, key=_mtime, reverse=True)


def _mtime(checkpoint: Path) -> float:
    weights, config = checkpoint_files(checkpoint)
    return max(weights.stat().st_mtime, config.stat().st_mtime)


def find_checkpoint(checkpoint_path: str | Path | None = None,
                    checkpoint_dir: str | Path | None = None) -> Path:
    """The checkpoint to use, by this rule:

    1. ``checkpoint_path`` when given (a folder, ``.safetensors`` file or its ``.json``);
    2. else the newest checkpoint in ``checkpoint_dir`` (see :func:`list_checkpoints`);
    3. else :data:`DEFAULT_MODEL_DIR`, the default model shipped with audiomanip.

    Raises :class:`CheckpointError` when the chosen place holds no checkpoint (a given folder
    with none is an error, not a silent fall-back to the default model).
    """
    if checkpoint_path is not None:
        path = Path(checkpoint_path).expanduser()
        checkpoint_files(path)  # refuses pickles by name
        if not path.exists():
            raise CheckpointError(f"checkpoint {path} does not exist")
        return path
    if checkpoint_dir is not None:
        folder = Path(checkpoint_dir).expanduser()
        if folder.exists() and not folder.is_dir():
            raise CheckpointError(
                f"--checkpoint-dir {folder} is a file, not a folder (use --checkpoint-path for one checkpoint file)")
        if not folder.is_dir():
            raise CheckpointError(f"checkpoint folder {folder} does not exist")
        found = list_checkpoints(folder)
        if not found:
            raise CheckpointError(
                f"no checkpoint in {folder}: expected sub-folders holding {WEIGHTS_FILE} + {CONFIG_FILE}, "
                "or NAME.safetensors files with a NAME.json beside them")
        return found[0]
    if is_checkpoint(DEFAULT_MODEL_DIR):
        return DEFAULT_MODEL_DIR
    raise CheckpointError(
        f"no default model is installed ({DEFAULT_MODEL_DIR} holds no {WEIGHTS_FILE} + {CONFIG_FILE}); "
        "train one with `audiomanip train` and pass --checkpoint-path, or reinstall audiomanip")


# --------------------------------------------------------------------------- saving
def _serialise_weights(model_state: Mapping[str, Any]) -> bytes:
    import torch
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, value in model_state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise TypeError(f"model_state must map str to torch.Tensor; {key!r} is {type(value).__name__}")
        tensor = value.detach().to("cpu").contiguous()
        if tensor.numel() and tensor.data_ptr() in seen:  # tied weights: safetensors stores copies
            tensor = tensor.clone()
        seen.add(tensor.data_ptr())
        tensors[key] = tensor
    return save(tensors, metadata={"format": "pt"})


def save_checkpoint(path: str | Path, model_state: Mapping[str, Any], config: Mapping[str, Any]) -> Path:
    """Write a checkpoint atomically and return its path.

    ``path``: a folder (created; it gets ``model.safetensors`` + ``config.json``) or a
    ``NAME.safetensors`` file (``NAME.json`` is written beside it). ``model_state``: the
    weights, ``{name: Tensor}`` (moved to CPU). ``config``: a JSON-able dict describing them;
    it must hold ``encoder`` ``{name, dim}``; ``schema_version`` defaults to the current one and
    ``checkpoint`` (format version, size and SHA-256 of the weights, time) is added.

    Each file is written to a temporary name and renamed into place, weights first and config
    last; a new folder is assembled under a temporary name and renamed whole. A crash leaves
    the previous checkpoint or the new one, never a half-written file (a config that does not
    match its weights is detected on load by the SHA-256).
    """
    path = Path(path).expanduser()
    weights_path, config_path = checkpoint_files(path)
    encoder = config.get("encoder")
    if not isinstance(encoder, Mapping) or not isinstance(encoder.get("name"), str) \
            or isinstance(encoder.get("dim"), bool) or not isinstance(encoder.get("dim"), int):
        raise ValueError("config['encoder'] must be {'name': str, 'dim': int}")
    weights = _serialise_weights(model_state)
    full = dict(config)
    full.setdefault("schema_version", SCHEMA_VERSION)
    from audiomanip import __version__

    full["checkpoint"] = {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "weights_file": weights_path.name,
        "weights_bytes": len(weights),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "saved_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "audiomanip_version": __version__,
    }
    try:
        config_bytes = (json.dumps(full, indent=2) + "\n").encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise TypeError(f"checkpoint config is not JSON-able: {exc}") from None

    if weights_path.parent == path and not path.exists():
        # New folder: build it under a temporary name, then rename it into place whole.
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}{_TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
        staging.mkdir()
        try:
            write_bytes(staging / weights_path.name, weights)
            write_bytes(staging / config_path.name, config_bytes)
            os.rename(staging, path)
            return path
        except OSError:
            if not path.exists():
                raise
            # Someone created the folder meanwhile: fall through and replace file by file.
        finally:
            if staging.exists():
                for child in staging.iterdir():
                    child.unlink()
                staging.rmdir()
    if weights_path.parent == path and not path.is_dir():
        raise CheckpointError(f"cannot save a checkpoint folder at {path}: a file is in the way")
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(weights_path, weights)
    write_bytes(config_path, config_bytes)
    return path


# --------------------------------------------------------------------------- loading
def load_checkpoint_config(path: str | Path, *, expected_encoder_dim: int | None = None) -> dict[str, Any]:
    """The checked config of a checkpoint (no weights read). See :func:`load_checkpoint`."""
    path = Path(path).expanduser()
    weights_path, config_path = checkpoint_files(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.is_dir() and not weights_path.is_file():
        pickles = sorted(p.name for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        if pickles:
            raise CheckpointError(
                f"refusing to load {path}: it holds {', '.join(pickles)} (pickle files can run arbitrary "
                f"code when loaded) and no {WEIGHTS_FILE}. " + _CONVERT_HINT)
        raise CheckpointError(f"{path} is not a checkpoint: it holds no {WEIGHTS_FILE}")
    if not config_path.is_file():
        raise CheckpointError(f"checkpoint {path} has no config: expected {config_path}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"the config {config_path} is not readable JSON ({exc}); the checkpoint is "
                              "damaged: save it again") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"the config {config_path} is not a JSON object")
    version = config.get("schema_version")
    if version != SCHEMA_VERSION:
        raise CheckpointError(
            f"checkpoint {path} was made for preset schema version {version!r}; this audiomanip expects "
            f"schema version {SCHEMA_VERSION}: retrain it with `audiomanip train`")
    fmt = config.get("checkpoint", {}).get("format_version", CHECKPOINT_FORMAT_VERSION) \
        if isinstance(config.get("checkpoint"), dict) else CHECKPOINT_FORMAT_VERSION
    if fmt != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} uses checkpoint format version {fmt!r}; this audiomanip "
                              f"reads format version {CHECKPOINT_FORMAT_VERSION}")
    encoder = config.get("encoder")
    if not isinstance(encoder, dict) or not isinstance(encoder.get("dim"), int) or "name" not in encoder:
        raise CheckpointError(f"the config {config_path} does not name its text encoder "
                              "(expected encoder: {name, dim})")
    if expected_encoder_dim is not None and encoder["dim"] != expected_encoder_dim:
        raise CheckpointError(
            f"checkpoint {path} reads {encoder['dim']}-d text tokens (encoder {encoder['name']!r}) but "
            f"{expected_encoder_dim}-d tokens are expected here: use a checkpoint trained with this text "
            "encoder, or choose the encoder the checkpoint names")
    return config


def verify_weights(path: str | Path, config: Mapping[str, Any]) -> bytes:
    """The bytes of a checkpoint's weights file after checking them against the size and
    SHA-256 its config records (:class:`CheckpointError` when truncated, changed or unreadable).
    Torch-free: the ONNX Runtime path checks the same way before reading the weights."""
    weights_path, _ = checkpoint_files(Path(path).expanduser())
    try:
        data = weights_path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read {weights_path}: {exc}") from None
    record = config.get("checkpoint") if isinstance(config.get("checkpoint"), dict) else {}
    expected_bytes = record.get("weights_bytes")
    if isinstance(expected_bytes, int) and expected_bytes != len(data):
        state = "truncated" if len(data) < expected_bytes else "longer than recorded"
        raise CheckpointError(f"{weights_path} is {state}: its config records {expected_bytes} bytes, "
                              f"the file has {len(data)}; copy or save the checkpoint again")
    expected_sha = record.get("weights_sha256")
    if isinstance(expected_sha, str) and hashlib.sha256(data).hexdigest() != expected_sha:
        raise CheckpointError(f"{weights_path} does not match its config (SHA-256 differs from the recorded "
                              f"{expected_sha[:12]}...): the weights were changed or damaged; save the "
                              "checkpoint again")
    return data


def load_checkpoint(path: str | Path, *, expected_encoder_dim: int | None = None,
                    device: str = "cpu") -> tuple[dict[str, "torch.Tensor"], dict[str, Any]]:
    """Read a checkpoint: ``(state_dict {name: Tensor on device}, config dict)``.

    ``path``: a checkpoint folder, ``.safetensors`` file or its ``.json`` (see the module
    docstring). ``expected_encoder_dim``: when given, the size of text token the caller will
    feed (D). Only safetensors is read; nothing is unpickled. Raises :class:`CheckpointError`
    for a missing or pickle file, a truncated or corrupt file, weights that do not match their
    config, another schema version or another encoder size.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as load_bytes

    path = Path(path).expanduser()
    weights_path, _ = checkpoint_files(path)
    config = load_checkpoint_config(path, expected_encoder_dim=expected_encoder_dim)
    data = verify_weights(path, config)
    try:
        state = load_bytes(data)
    except (SafetensorError, ValueError, OSError, RuntimeError) as exc:
        looks = ""
        if data[:2] == b"PK" or data[:1] == b"\x80":
            looks = (" (it looks like a torch/pickle file renamed to .safetensors: refused, nothing was "
                     "unpickled)")
        raise CheckpointError(f"{weights_path} is not a valid safetensors file{looks}: "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if device != "cpu":
        state = {k: v.to(device) for k, v in state.items()}
    return state, config


def check_state_shapes(state: Mapping[str, "torch.Tensor"], expected: Mapping[str, "torch.Tensor"],
                       source: str = "checkpoint") -> None:
    """Compare a loaded state with a model's ``state_dict()``; :class:`CheckpointError` listing
    missing, unexpected and differently shaped entries (no shape traceback)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k} (expected {tuple(expected[k].shape)}, found {tuple(state[k].shape)})"
             for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing, e.g. {', '.join(missing[:3])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected, e.g. {', '.join(unexpected[:3])}")
    if wrong:
        problems.append(f"{len(wrong)} with another shape, e.g. {'; '.join(wrong[:3])}")
    if problems:
        raise CheckpointError(f"{source}: the weights do not fit this model: {'; '.join(problems)}")
