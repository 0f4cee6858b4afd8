"""Writers write only regular files (issue 14, finding 4): a device node, a FIFO or a socket at
the destination is refused, with or without --overwrite, and left untouched; nothing is ever
renamed over it. Device nodes are made with mknod in a temporary folder (a character device
with /dev/null's numbers), FIFOs with os.mkfifo; the CLI runs as a real process."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_helpers import run_process

from audiomanip.errors import OutputError
from audiomanip.params import Preset

SR = 16000


def _make_node(path: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "chardev":
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # /dev/null's numbers
        except PermissionError:
            pytest.skip("mknod needs CAP_MKNOD (root)")
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()


def _identity(path: Path) -> tuple[int, int, int]:
    st = os.lstat(path)
    return (st.st_ino, st.st_mode, st.st_rdev)


KINDS = ["chardev", "fifo", "socket"]


@pytest.fixture
def work(tmp_path):
    t = np.arange(SR) / SR
    sf.write(tmp_path / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t), SR)
    return tmp_path


def _assert_refused(res: subprocess.CompletedProcess, node: Path, before) -> None:
    assert res.returncode == OutputError.exit_code, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a regular file" in lines[0], res.stderr
    assert _identity(node) == before, "the node was replaced"
    assert [p.name for p in node.parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("overwrite", [True, False])
def test_apply_o_onto_a_node_is_refused(work, kind, overwrite):
    node = work / "mynull.wav"
    _make_node(node, kind)
    before = _identity(node)
    res = run_process("apply", "tone.wav", "-p", "telephone", "-o", node, *(["--overwrite"] if overwrite else []), cwd=work)
    if overwrite:
        _assert_refused(res, node, before)
    else:
        assert res.returncode == OutputError.exit_code and _identity(node) == before


@pytest.mark.parametrize("kind", ["chardev", "fifo"])
@pytest.mark.parametrize("fmt, name", [("yaml", "p.yaml"), ("json", "p.json"), ("ffmpeg", "chain.txt"),
                                       ("ir", "ir.wav")])
def test_export_preset_onto_a_node_is_refused(work, kind, fmt, name):
    node = work / name
    _make_node(node, kind)
    before = _identity(node)
    res = run_process("export-preset", "-p", "cathedral", "-f", fmt, "-o", node, "--overwrite", cwd=work)
    _assert_refused(res, node, before)


def test_plot_and_ffmpeg_ir_beside_the_output_are_checked(work):
    _make_node(work / "take.png", "fifo")
    before = _identity(work / "take.png")
    res = run_process("apply", "tone.wav", "-p", "telephone", "-o", "take.wav", "--plot", "--overwrite", cwd=work)
    _assert_refused(res, work / "take.png", before)
    assert not (work / "take.wav").exists()  # refused before anything was written
    _make_node(work / "chain_ir.wav", "chardev")
    before = _identity(work / "chain_ir.wav")
    res = run_process("export-preset", "-p", "cathedral", "-f", "ffmpeg", "-o", "chain.txt", "--overwrite", cwd=work)
    _assert_refused(res, work / "chain_ir.wav", before)
    assert not (work / "chain.txt").exists()


# ---------------------------------------------------------------- every library writer
def _writers():
    from audiomanip import audio_io, export, outputs, plot
    from audiomanip.batch import engine as batch
    from audiomanip.evaluation import report as evaluation_report

    preset = Preset.default()
    yield "audio", lambda p: audio_io.write(p, np.zeros((1, 100), np.float32), SR, overwrite=True)
    yield "text", lambda p: outputs.write_text_atomic(p, "x: 1", overwrite=True)
    yield "preset document", lambda p: outputs.write_preset_document(p, {"a": 1}, overwrite=True)
    yield "ir", lambda p: export.write_ir(preset, p, SR, overwrite=True)
    yield "plot", lambda p: plot.plot_preset(preset, p, overwrite=True)
    yield "batch report", lambda p: batch.write_report(p, [])
    yield "eval report", lambda p: evaluation_report.save_report({"a": 1}, p)


@pytest.mark.parametrize("kind", ["chardev", "fifo"])
@pytest.mark.parametrize("name, writer", list(_writers()), ids=[n for n, _ in _writers()])
def test_every_writer_refuses_a_node(tmp_path, kind, name, writer):
    node = tmp_path / ("out.json" if "report" in name or "document" in name else
                       "out.png" if name == "plot" else "out.yaml" if name in ("text", "preset save") else "out.wav")
    _make_node(node, kind)
    before = _identity(node)
    with pytest.raises(OutputError, match="not a regular file"):
        writer(node)
    assert _identity(node) == before
    assert [p.name for p in tmp_path.iterdir()] == [node.name]


@pytest.mark.parametrize("kind", ["chardev", "fifo"])
def test_preset_save_refuses_a_node(tmp_path, kind):
    from audiomanip.params import PresetError

    node = tmp_path / "p.yaml"
    _make_node(node, kind)
    before = _identity(node)
    with pytest.raises(PresetError, match="not a regular file"):
        Preset.default().save(node)
    assert _identity(node) == before and [p.name for p in tmp_path.iterdir()] == ["p.yaml"]


@pytest.mark.parametrize("kind", ["chardev", "fifo"])
def test_checkpoint_files_are_never_renamed_over_a_node(tmp_path, kind):
    import torch

    from audiomanip.checkpoint import save_checkpoint

    folder = tmp_path / "ckpt"
    folder.mkdir()
    node = folder / "model.safetensors"
    _make_node(node, kind)
    before = _identity(node)
    with pytest.raises(OutputError, match="not a regular file"):
        save_checkpoint(folder, {"w": torch.zeros(2)}, {"encoder": {"name": "x", "dim": 2}})
    assert _identity(node) == before
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors"]


def test_a_regular_file_is_still_replaced_with_overwrite(work):
    (work / "old.wav").write_bytes(b"old take")
    res = run_process("apply", "tone.wav", "-p", "telephone", "-o", "old.wav", "--overwrite", cwd=work)
    assert res.returncode == 0, res.stderr
    assert sf.info(str(work / "old.wav")).samplerate == SR
    report = work / "r.json"
    from audiomanip.evaluation.report import save_report

    save_report({"a": 1}, report)
    assert json.loads(report.read_text()) == {"a": 1}
