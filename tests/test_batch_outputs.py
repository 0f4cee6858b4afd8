"""Batch output names, resume by manifest record, claims and report merging (issue 14 finding 3)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_helpers import assert_user_error, digests, invoke

from audiomanip.batch import engine, manifest
from audiomanip.training.sources import sine
from audiomanip.params import Preset

SR = 16000


def gain_preset(db: float) -> Preset:
    p = Preset.default()
    p["output"]["gain_db"] = db
    return p


def f0(path: Path) -> float:
    """Frequency (Hz) of the strongest spectral peak of a file's first channel."""
    y, sr = sf.read(path, dtype="float64", always_2d=True)
    spec = np.abs(np.fft.rfft(y[:, 0] * np.hanning(len(y))))
    return float(np.argmax(spec) * sr / len(y))


def rms_db(path: Path) -> float:
    y, _ = sf.read(path, dtype="float64")
    return float(20 * np.log10(np.sqrt(np.mean(y**2))))


def test_plan_files_of_one_name_in_two_folders_both_get_their_own_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    sf.write(tmp_path / "x" / "song.wav", sine(220.0, 0.5, SR, amplitude=0.3).T, SR)
    sf.write(tmp_path / "y" / "song.wav", sine(880.0, 0.5, SR, amplitude=0.3).T, SR)
    (tmp_path / "plan.csv").write_text("file,prompt\nsong.wav,gain -6 dB\n../y/song.wav,gain -6 dB\n")
    # plan the jobs from the plan file with a fixed preset (a prompt would need the model)
    assignments = engine.read_plan(tmp_path / "plan.csv", tmp_path / "x")
    jobs = engine.plan_jobs(
        assignments,
        {"gain -6 dB": gain_preset(-6.0)},
        tmp_path / "x",
        tmp_path / "out",
        {"gain -6 dB": "gain_6_db"},
    )
    assert len({j.out_path for j in jobs}) == 2
    # the names depend on the job alone, not on the rows' order
    again = engine.plan_jobs(
        assignments[::-1],
        {"gain -6 dB": gain_preset(-6.0)},
        tmp_path / "x",
        tmp_path / "out",
        {"gain -6 dB": "gain_6_db"},
    )
    assert {(j.in_path, j.out_path) for j in again} == {(j.in_path, j.out_path) for j in jobs}
    outcomes = engine.run_batch(jobs, engine.BatchOptions(run_id="t"), workers=1)
    assert [o.status for o in outcomes] == ["done", "done"]
    by_input = {Path(o.in_path).resolve().parent.name: Path(o.out_path) for o in outcomes}
    assert abs(f0(by_input["x"]) - 220.0) < 5 and abs(f0(by_input["y"]) - 880.0) < 5


def test_colliding_prompt_slugs_keep_their_folders_when_the_file_is_reordered(
    tmp_path, monkeypatch, tiny_model
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "a.wav", sine(330.0, 0.3, SR, amplitude=0.3).T, SR)

    def run(lines: str):
        (tmp_path / "prompts.txt").write_text(lines)
        res = invoke(
            "batch",
            "in",
            "--prompts",
            "prompts.txt",
            "--checkpoint-path",
            tiny_model,
            "--workers",
            "1",
            "--output-dir",
            "o",
        )
        assert res.exit_code == 0, res.output
        report = json.loads((tmp_path / "o" / "report.json").read_text())
        return res, {f["label"]: (f["out_path"], f["status"], f["preset"]) for f in report["files"]}

    _, first = run("gain +6 dB\ngain -6 dB\n")
    assert len({v[0] for v in first.values()}) == 2  # "gain_6_db-<hash>" for each, not "_2" for one
    assert all(v[1] == "done" for v in first.values())
    out_plus, out_minus = Path(first["gain +6 dB"][0]), Path(first["gain -6 dB"][0])
    assert rms_db(out_plus) > rms_db(out_minus) + 6  # same model output otherwise: 12 dB apart, minus effects
    _, second = run("gain -6 dB\ngain +6 dB\n")
    assert {k: v[0] for k, v in second.items()} == {k: v[0] for k, v in first.items()}
    assert all(v[1] == "skipped" for v in second.values())
    for label, (_, _, preset) in second.items():
        assert Preset.from_dict(preset)["output"]["gain_db"] == (6.0 if "+" in label else -6.0)


def test_output_dir_equal_to_input_dir_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "a.wav", sine(330.0, 0.2, SR).T, SR)
    gain_preset(-6.0).save(tmp_path / "q.yaml")
    before = digests(tmp_path / "in")
    res = invoke("batch", "in", "--preset-file", "q.yaml", "--output-dir", "./in/")
    assert_user_error(res, 2, "input folder")
    assert digests(tmp_path / "in") == before  # no report.json, nothing else


def test_an_output_replacing_an_input_is_refused(tmp_path):
    root = tmp_path / "in"
    (root / "out").mkdir(parents=True)
    sf.write(root / "a.wav", sine(330.0, 0.2, SR).T, SR)
    sf.write(root / "out" / "a.wav", sine(330.0, 0.2, SR).T, SR)
    with pytest.raises(Exception, match="would replace an input"):
        engine.plan_jobs(
            [(root / "out" / "a.wav", "p"), (root / "a.wav", "p")],
            {"p": gain_preset(0)},
            root / "out",
            root,
            {"p": "p"},
        )


def test_resume_redoes_stale_outputs_and_refuses_ones_it_did_not_make(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "in"
    root.mkdir()
    for i, hz in enumerate((220.0, 330.0, 440.0)):
        sf.write(root / f"t{i}.wav", sine(hz, 0.3, SR, amplitude=0.5).T, SR)
    gain_preset(-6.0).save(tmp_path / "q.yaml")
    out = tmp_path / "out"

    def run(*extra):
        res = invoke(
            "batch", "in", "--preset-file", "q.yaml", "--output-dir", "out", "--workers", "1", *extra
        )
        return res, {
            Path(f["in_path"]).name: f for f in json.loads((out / "report.json").read_text())["files"]
        }

    res, files = run()
    assert res.exit_code == 0 and {f["status"] for f in files.values()} == {"done"}
    level = rms_db(out / "t0.wav")
    # same command: everything current, skipped
    res, files = run()
    assert res.exit_code == 0 and {f["status"] for f in files.values()} == {"skipped"}
    # a changed preset: every output redone, 6 dB quieter
    gain_preset(-12.0).save(tmp_path / "q.yaml")
    res, files = run()
    assert res.exit_code == 0 and {f["status"] for f in files.values()} == {"done"}
    assert rms_db(out / "t0.wav") == pytest.approx(level - 6.0, abs=0.05)
    # a changed input: only that one redone (and at its new pitch)
    sf.write(root / "t1.wav", sine(550.0, 0.3, SR, amplitude=0.5).T, SR)
    res, files = run()
    assert {n: f["status"] for n, f in files.items()} == {
        "t0.wav": "skipped",
        "t1.wav": "done",
        "t2.wav": "skipped",
    }
    assert abs(f0(out / "t1.wav") - 550.0) < 5
    # a changed option (--audio-length) redoes every output
    res, files = run("--audio-length", "0.1")
    assert {f["status"] for f in files.values()} == {"done"}
    assert sf.info(out / "t2.wav").frames == int(0.1 * SR)
    # a file no batch made is not ours: refused (exit 1, left alone) unless --overwrite
    sf.write(out / "t2.wav", sine(1000.0, 0.3, SR).T, SR)
    mine = (out / "t2.wav").read_bytes()
    res, files = run("--audio-length", "0.1")
    assert res.exit_code == 1 and files["t2.wav"]["status"] == "failed"
    assert "--overwrite" in files["t2.wav"]["error"] and (out / "t2.wav").read_bytes() == mine
    res, files = run("--audio-length", "0.1", "--overwrite")
    assert res.exit_code == 0 and files["t2.wav"]["status"] == "done" and abs(f0(out / "t2.wav") - 440.0) < 5


def test_a_claim_held_by_another_live_run_is_respected(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    sf.write(root / "a.wav", sine(330.0, 0.2, SR).T, SR)
    job = engine.plan_jobs([(root / "a.wav", "p")], {"p": gain_preset(-6)}, root, tmp_path / "o", {"p": "p"})[
        0
    ]
    (tmp_path / "o").mkdir()
    with manifest.claim(job.out_path, "other-run"):  # this process is alive: a live claim
        outcome = engine.run_job(job, engine.BatchOptions(run_id="me"))
    assert outcome.status == "failed" and "another batch run" in outcome.error
    assert not Path(job.out_path).exists()
    # a claim left by a process that is gone is taken over
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    claim_file = Path(manifest.claim_location(job.out_path))
    claim_file.write_text(
        json.dumps(
            {
                "run": "dead",
                "host": socket.gethostname(),
                "pid": int(dead.stdout),
                "time": time.time(),
            }
        )
    )
    assert engine.run_job(job, engine.BatchOptions(run_id="me")).status == "done"
    assert not claim_file.exists()


def test_two_runs_taking_over_one_abandoned_claim_at_once_write_the_output_once(tmp_path, monkeypatch):
    """Runs A and B both find the claim of a dead process on a stale output and both take it
    over: B's delete removes the claim A has just made. A learns it before publishing."""
    import audiomanip.processing

    root = tmp_path / "in"
    root.mkdir()
    sf.write(root / "a.wav", sine(330.0, 0.3, SR, amplitude=0.5).T, SR)

    def job_at(db: float):
        return engine.plan_jobs([(root / "a.wav", "p")], {"p": gain_preset(db)}, root, tmp_path / "o", {"p": "p"})[0]

    assert engine.run_job(job_at(-6.0), engine.BatchOptions(run_id="old")).status == "done"
    out = Path(job_at(-6.0).out_path)
    old_level, old_bytes = rms_db(out), out.read_bytes()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    claim_file = Path(manifest.claim_location(str(out)))
    abandoned = {"run": "dead", "host": socket.gethostname(), "pid": int(dead.stdout), "time": time.time()}
    claim_file.write_text(json.dumps(abandoned))

    real = audiomanip.processing.process_file
    b_claim = json.dumps({"run": "B", "host": socket.gethostname(), "pid": os.getpid(), "time": time.time()})

    def render_while_b_takes_over(*args, **kw):
        # B read the abandoned claim when A did; its delete comes after A's create
        assert json.loads(claim_file.read_text())["run"] == "A"
        claim_file.unlink()
        claim_file.write_text(b_claim)
        return real(*args, **kw)

    monkeypatch.setattr(audiomanip.processing, "process_file", render_while_b_takes_over)
    a = engine.run_job(job_at(-12.0), engine.BatchOptions(run_id="A"))
    monkeypatch.setattr(audiomanip.processing, "process_file", real)
    assert a.status == "failed" and "taken over by another batch run" in a.error
    assert out.read_bytes() == old_bytes  # A wrote nothing
    assert claim_file.read_text() == b_claim  # and left B's claim alone
    assert not list(out.parent.glob(".*part*")) and not list(out.parent.glob("*.part*"))
    # B, holding the claim, renders and publishes: the one write of the new output
    assert engine.run_job(job_at(-12.0), engine.BatchOptions(run_id="B")).status == "done"
    assert rms_db(out) == pytest.approx(old_level - 6.0, abs=0.05)
    assert manifest.read_record(str(out))["run"] == "B" and not claim_file.exists()


CONCURRENT = """
import sys
from audiomanip.commands.app import main
sys.argv = ["audiomanip", "batch", "in", "--preset-file", "q.yaml", "--output-dir", "out", "--workers", "1"]
main()
"""


def test_two_batches_into_one_folder_write_each_file_once_and_both_keep_their_report(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    n = 12
    for i in range(n):
        sf.write(root / f"t{i:02d}.wav", sine(200.0 + 40 * i, 0.4, SR, amplitude=0.5).T, SR)
    gain_preset(-6.0).save(tmp_path / "q.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT],
            cwd=tmp_path,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    # per run: "done skipped failed" summary row
    done = 0
    for (stdout, stderr), p in zip(results, procs):
        rows = [ln.split() for ln in stdout.splitlines() if ln.split() and ln.split()[0].isdigit()]
        d, s, f = (int(v) for v in rows[-1][:3])
        assert d + s + f == n, stdout
        done += d
        assert p.returncode in (0, 1), stderr
    assert done == n  # every file written by exactly one of the two runs
    records = [manifest.read_record(str(tmp_path / "out" / f"t{i:02d}.wav")) for i in range(n)]
    assert all(r is not None for r in records)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert len(report["files"]) == n
    for i in range(n):
        assert abs(f0(tmp_path / "out" / f"t{i:02d}.wav") - (200.0 + 40 * i)) < 5


def test_report_of_another_batch_into_the_same_folder_is_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for d, hz in (("a", 220.0), ("b", 440.0)):
        (tmp_path / d).mkdir()
        sf.write(tmp_path / d / f"{d}.wav", sine(hz, 0.2, SR).T, SR)
    gain_preset(-6.0).save(tmp_path / "q.yaml")
    for d in ("a", "b"):
        assert (
            invoke("batch", d, "--preset-file", "q.yaml", "--output-dir", "out", "--workers", "1").exit_code
            == 0
        )
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert sorted(Path(f["out_path"]).name for f in report["files"]) == ["a.wav", "b.wav"]
    assert report["counts"] == {"done": 2, "skipped": 0, "failed": 0}


def test_file_urls_work_for_the_folders_and_the_plan(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "a.wav", sine(440.0, 0.3, SR, amplitude=0.5).T, SR)
    (tmp_path / "plan.csv").write_text("file,prompt\na.wav,quiet\n")
    assert engine.read_plan(f"file://{tmp_path}/plan.csv", f"file://{tmp_path}/in") == [
        (f"file://{tmp_path}/in/a.wav", "quiet")
    ]
    gain_preset(-6.0).save(tmp_path / "q.yaml")
    res = invoke(
        "batch", f"file://{tmp_path}/in", "--preset-file", "q.yaml", "--output-dir", f"file://{tmp_path}/o"
    )
    assert res.exit_code == 0, res.output
    assert abs(f0(tmp_path / "o" / "a.wav") - 440.0) < 5
    assert rms_db(tmp_path / "o" / "a.wav") == pytest.approx(
        rms_db(tmp_path / "in" / "a.wav") - 6.0, abs=0.05
    )
    assert json.loads((tmp_path / "o" / "report.json").read_text())["counts"]["done"] == 1
    # the same folder through a URL and a path is one folder: refused as the output of itself
    assert_user_error(
        invoke("batch", "in", "--preset-file", "q.yaml", "--output-dir", f"file://{tmp_path}/in"), 2
    )


def test_a_run_that_died_between_publishing_and_recording_is_redone(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    sf.write(root / "a.wav", sine(330.0, 0.3, SR, amplitude=0.5).T, SR)
    out = tmp_path / "o"
    job = engine.plan_jobs([(root / "a.wav", "p")], {"p": gain_preset(-6)}, root, out, {"p": "p"})[0]
    out.mkdir()
    # what a killed worker leaves: its output published, no record, its claim, a part file
    sf.write(out / "a.wav", sine(330.0, 0.1, SR).T, SR)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    part = out / f".a.wav.{int(dead.stdout)}.0123456789ab.scratch.wav"
    part.write_bytes(b"partial")
    claim = {"run": "old", "host": socket.gethostname(), "pid": int(dead.stdout), "time": time.time()}
    Path(manifest.claim_location(job.out_path)).write_text(json.dumps(claim))
    assert engine.run_job(job, engine.BatchOptions(run_id="new")).status == "done"
    assert sf.info(out / "a.wav").frames == int(0.3 * SR)
    assert not part.exists() and not Path(manifest.claim_location(job.out_path)).exists()
    assert manifest.read_record(job.out_path)["run"] == "new"


@pytest.mark.parametrize(
    "args, words",
    [(["--engine", "spark"], "--engine"), (["--address", "auto"], "--engine ray")],
)
def test_engine_options_are_checked(tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    gain_preset(-6.0).save(tmp_path / "q.yaml")
    assert_user_error(invoke("batch", "in", "--preset-file", "q.yaml", *args), 2, words)


def test_an_unreachable_cluster_is_a_one_line_error(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "a.wav", sine(330.0, 0.2, SR).T, SR)
    gain_preset(-6.0).save(tmp_path / "q.yaml")
    res = invoke("batch", "in", "--preset-file", "q.yaml", "--engine", "ray", "--address", "127.0.0.1:1")
    assert_user_error(res, 11, "cannot reach the Ray cluster at 127.0.0.1:1")
    assert not (tmp_path / "output").exists()
