"""`audiomanip batch`: a tree of files, corrupt ones, resume, interruption, report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audiomanip.commands.app import app
from cli_helpers import invoke, runner

from audiomanip.batch import engine
from audiomanip.training.sources import sine
from audiomanip.params import Preset
from audiomanip.batch.manifest import is_bookkeeping

SR = 16000


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def gain_preset(gain_db: float = -6.0) -> Preset:
    p = Preset.default()
    p.set("output", "gain_db", gain_db)
    return p


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """20 short files in 3 folders (18 good: sines of different pitch; 2 corrupt) + a preset."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "in"
    good = []
    for i in range(18):
        sub = root / ("" if i < 6 else "a" if i < 12 else "a/b")
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"take{i:02d}.wav"
        sf.write(path, sine(200.0 + 50 * i, 0.2, SR, amplitude=0.5, channels=1 + i % 2).T, SR)
        good.append(path)
    (root / "a" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk" * 4)
    truncated = good[-1].read_bytes()[:30]
    (root / "a" / "b" / "truncated.wav").write_bytes(truncated)
    (root / "notes.txt").write_text("not audio, not matched by the default pattern")
    gain_preset().save(tmp_path / "quiet.yaml")
    return root, good


def test_batch_tree_with_corrupt_files_and_resume(tree, tmp_path):
    root, good = tree
    hashes = {p: digest(p) for p in root.rglob("*") if p.is_file()}
    res = invoke(
        "batch", root, "--preset-file", "quiet.yaml", "--recursive", "--workers", "2", "--output-dir", "out"
    )
    assert res.exit_code == 1, res.output
    out = tmp_path / "out"
    written = sorted(p.relative_to(out) for p in out.rglob("*.wav"))
    assert written == sorted(p.relative_to(root) for p in good)
    # each output is its input 6 dB down, same rate and channels
    for p in good:
        x, _ = sf.read(p, dtype="float32", always_2d=True)
        y, sr = sf.read(out / p.relative_to(root), dtype="float32", always_2d=True)
        assert sr == SR and y.shape == x.shape
        assert np.allclose(y, x * 10 ** (-6 / 20), atol=1e-4)
    report = json.loads((out / "report.json").read_text())
    assert report["counts"] == {"done": 18, "skipped": 0, "failed": 2}
    failed = {Path(f["in_path"]).name: f for f in report["files"] if f["status"] == "failed"}
    assert set(failed) == {"broken.wav", "truncated.wav"}
    assert all(f["error"] and "\n" not in f["error"] for f in failed.values())
    assert all(Preset.from_dict(f["preset"]) == gain_preset() for f in report["files"])
    assert "broken.wav" in res.stdout
    # inputs untouched, nothing hidden or partial left behind
    assert {p: digest(p) for p in root.rglob("*") if p.is_file()} == hashes
    assert not [p for p in out.rglob(".*") if not is_bookkeeping(p.name)]
    # a re-run skips the 18 done files and retries the 2 broken ones
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    res = invoke(
        "batch", root, "--preset-file", "quiet.yaml", "--recursive", "--workers", "2", "--output-dir", "out"
    )
    assert res.exit_code == 1
    report = json.loads((out / "report.json").read_text())
    assert report["counts"] == {"done": 0, "skipped": 18, "failed": 2}
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == mtimes


def test_pattern_and_no_recursion(tree, tmp_path):
    root, _ = tree
    res = invoke(
        "batch",
        root,
        "--preset-file",
        "quiet.yaml",
        "--pattern",
        "take0[0-3].wav",
        "--workers",
        "1",
        "--output-dir",
        "o",
    )
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "o").rglob("*.wav")) == [f"take0{i}.wav" for i in range(4)]


def test_default_output_dir_and_exclusion_of_outputs_inside_the_input(tree, tmp_path):
    root, _ = tree
    res = invoke(
        "batch", root / "a" / "b", "--preset-file", "quiet.yaml", "--workers", "1", "--pattern", "take*.wav"
    )
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "output" / "batch_b_quiet").glob("*.wav"))) == 6
    # output folder inside the input tree: never taken as input on a re-run
    res = invoke(
        "batch",
        root / "a" / "b",
        "--preset-file",
        "quiet.yaml",
        "--workers",
        "1",
        "--recursive",
        "--pattern",
        "take*.wav",
        "--output-dir",
        root / "a" / "b" / "processed",
    )
    assert res.exit_code == 0, res.output
    res = invoke(
        "batch",
        root / "a" / "b",
        "--preset-file",
        "quiet.yaml",
        "--workers",
        "1",
        "--recursive",
        "--pattern",
        "take*.wav",
        "--output-dir",
        root / "a" / "b" / "processed",
    )
    report = json.loads((root / "a" / "b" / "processed" / "report.json").read_text())
    assert report["counts"] == {"done": 0, "skipped": 6, "failed": 0}


def test_interrupt_leaves_no_partial_outputs_and_resumes(tree, tmp_path):
    root, _ = tree
    preset = gain_preset()
    files = engine.find_inputs(root, recursive=True)
    jobs = engine.plan_jobs(
        [(f, "quiet") for f in files], {"quiet": preset}, root, tmp_path / "o", {"quiet": "quiet"}
    )
    seen = []

    def stop_after_three(info):
        seen.append(info)
        if info["done"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.run_batch(jobs, engine.BatchOptions(), workers=2, progress=stop_after_three)
    out = tmp_path / "o"
    assert not [p for p in out.rglob(".*") if not is_bookkeeping(p.name)], "temporary files left behind"
    finished = list(out.rglob("*.wav"))
    assert len(finished) >= 3  # how many more the workers finished before they stopped varies
    for p in finished:  # every output present is complete
        src = root / p.relative_to(out)
        assert sf.info(str(p)).frames == sf.info(str(src)).frames
    outcomes = engine.run_batch(jobs, engine.BatchOptions(), workers=1)
    counts = engine.count(outcomes)
    assert counts == {"done": 18 - len(finished), "skipped": len(finished), "failed": 2}


def test_on_start_comes_once_the_workers_run_and_before_any_rendered_outcome(tree, tmp_path):
    """The CLI starts its live display (a thread) from on_start, so the batch process can fork
    its workers first: on_start comes once, with the workers already running, and before the
    first outcome; with 1 worker (in-process) it comes too."""
    root, _ = tree
    files = engine.find_inputs(root, recursive=True)
    for workers in (2, 1):
        out = tmp_path / f"o{workers}"
        jobs = engine.plan_jobs(
            [(f, "quiet") for f in files], {"quiet": gain_preset()}, root, out, {"quiet": "quiet"}
        )
        events: list[object] = []

        def on_start(events=events):
            import multiprocessing

            events.append(("start", len(multiprocessing.active_children())))

        outcomes = engine.run_batch(
            jobs, engine.BatchOptions(), workers=workers, progress=events.append, on_start=on_start
        )
        starts = [e for e in events if isinstance(e, tuple)]
        assert starts == [("start", workers if workers > 1 else 0)]
        assert events[0] == starts[0] and len(events) == len(jobs) + 1
        assert engine.count(outcomes) == {"done": 18, "skipped": 0, "failed": 2}  # 2 unreadable inputs


def test_a_stopped_worker_has_a_deadline_even_if_its_interrupt_is_swallowed():
    """The worker's SIGTERM handler raises KeyboardInterrupt and arms SIGALRM first: if Python
    drops the exception (raised inside a __del__, say), the process still ends, so the parent's
    Pool.terminate() cannot wait forever."""
    import signal

    signal.alarm(0)
    with pytest.raises(KeyboardInterrupt):
        engine._stop_worker(signal.SIGTERM, None)
    remaining = signal.alarm(0)  # cancels it again, and tells how long was left
    assert 0 < remaining <= engine.STOP_GRACE_S


def test_several_labels_get_one_subfolder_each(tmp_path):
    root = tmp_path / "in"
    (root / "s").mkdir(parents=True)
    sf.write(root / "s" / "x.wav", sine(300.0, 0.1, SR).T, SR)
    presets = {"warm tape": gain_preset(-3.0), "big hall": gain_preset(-9.0)}
    slugs = {"warm tape": "warm_tape", "big hall": "big_hall"}
    jobs = engine.plan_jobs(
        [(root / "s" / "x.wav", lab) for lab in presets], presets, root, tmp_path / "o", slugs
    )
    assert sorted(Path(j.out_path).relative_to(tmp_path / "o").as_posix() for j in jobs) == [
        "big_hall/s/x.wav",
        "warm_tape/s/x.wav",
    ]
    outcomes = engine.run_batch(jobs, engine.BatchOptions(), workers=1)
    assert [o.status for o in outcomes] == ["done", "done"]
    x, _ = sf.read(root / "s" / "x.wav")
    y, _ = sf.read(tmp_path / "o" / "big_hall" / "s" / "x.wav")
    assert np.allclose(y, x * 10 ** (-9 / 20), atol=1e-4)


def test_plan_file(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    plan = tmp_path / "plan.csv"
    plan.write_text("file,prompt\nA.wav,warm tape\n/abs/b.wav,  big   hall \n\n")
    assert engine.read_plan(plan, root) == [(root / "A.wav", "warm tape"), (Path("/abs/b.wav"), "big hall")]
    plan.write_text("path,text\nA.wav,x\n")
    with pytest.raises(Exception, match="file,prompt"):
        engine.read_plan(plan, root)
    plan.write_text("file,prompt\nA.wav,\n")
    with pytest.raises(Exception, match="line 2"):
        engine.read_plan(plan, root)


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["missing_dir", "--preset-file", "quiet.yaml"], 3, "not found"),
        (["in", "--preset-file", "quiet.yaml", "--prompt", "warm"], 2, "exactly one"),
        (["in", "--prompts", "none.txt"], 9, "prompt file not found"),
        (["in", "--preset-file", "quiet.yaml", "--pattern", "*.xyz"], 2, "no files"),
        (["in", "--plan", "none.csv"], 9, "plan file not found"),
    ],
)
def test_batch_user_errors(tree, args, code, words):
    res = invoke("batch", *args)
    assert res.exit_code == code, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], res.stderr


def test_help_shows_an_example():
    res = runner.invoke(app, ["batch", "--help"])
    assert res.exit_code == 0 and "audiomanip batch stems/" in res.output




def test_prompts_file_gives_one_subfolder_per_prompt(tmp_path, monkeypatch, tiny_model):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    for name in ("a.wav", "sub/b.wav"):
        sf.write(root / name, sine(330.0, 0.2, SR, amplitude=0.3).T, SR)
    (tmp_path / "prompts.txt").write_text("# two prompts\npitch up 2 semitones\n\npitch down 5 semitones\n")
    res = invoke(
        "batch",
        root,
        "--prompts",
        "prompts.txt",
        "--recursive",
        "--checkpoint-path",
        tiny_model,
        "--workers",
        "2",
        "--output-dir",
        "o",
    )
    assert res.exit_code == 0, res.output
    out = tmp_path / "o"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav")) == [
        "pitch_down_5_semitones/a.wav",
        "pitch_down_5_semitones/sub/b.wav",
        "pitch_up_2_semitones/a.wav",
        "pitch_up_2_semitones/sub/b.wav",
    ]
    report = json.loads((out / "report.json").read_text())
    assert report["counts"] == {"done": 4, "skipped": 0, "failed": 0}
    shifts = {f["label"]: Preset.from_dict(f["preset"])["pitch"]["semitones"] for f in report["files"]}
    assert shifts == {"pitch up 2 semitones": 2.0, "pitch down 5 semitones": -5.0}
