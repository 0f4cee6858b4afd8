"""`batch --engine ray` on a real two-node Ray cluster over a real S3 server (issue 13).

No engine or storage mocks: a moto S3 server process and two `ray start` nodes run inside a
network namespace that has only loopback (see cluster_env.py); the batch runs as its own
process through `--address`, reading and writing S3 with s3fs. The S3 bucket is versioned, so
"written exactly once" is checked as "one version per output object".
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cluster_env import Namespace, RayCluster, S3Server, missing_requirements

from audiomanip.training.sources import sine

MISSING = missing_requirements()
pytestmark = [pytest.mark.cluster, pytest.mark.skipif(MISSING is not None, reason=str(MISSING))]

SR = 16000
N_FILES = 20  # one of them corrupt: 5 %
SECONDS = 40.0  # long enough that the batch is still running when a node is killed


def hz(i: int) -> float:
    return 150.0 + 37.0 * i


def f0(path: Path) -> float:
    y, sr = sf.read(path, dtype="float64", always_2d=True)
    spec = np.abs(np.fft.rfft(y[:, 0]))
    return float(np.argmax(spec) * sr / len(y))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    logs = tmp_path_factory.mktemp("cluster_logs")
    ns = Namespace()
    try:
        s3 = S3Server(ns, logs / "moto.log")
        ray = RayCluster(ns, logs)
        yield ns, s3, ray, logs
    finally:
        if "ray" in locals():
            ray.close()
        ns.close()


@pytest.fixture(scope="module")
def inputs(cluster, tmp_path_factory):
    """N_FILES inputs in s3://bucket1/in/ (one corrupt) their local copies and the preset."""
    _, s3, _, _ = cluster
    root = tmp_path_factory.mktemp("inputs")
    files = {}
    for i in range(N_FILES):
        path = root / f"take{i:02d}.wav"
        if i == 7:
            path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 100)
        else:
            sf.write(path, sine(hz(i), SECONDS, SR, amplitude=0.4).T, SR)
        files[f"in/{path.name}"] = str(path)
    preset = root / "quiet.yaml"
    from audiomanip.params import Preset

    p = Preset.default()
    p["output"]["gain_db"] = -6.0
    p.save(preset)
    s3.tool("put", {"bucket": "bucket1", "files": files})
    return root, preset


def start_batch(ns, s3, folder: Path, *args):
    """`audiomanip batch ARGS` started in the namespace; (process, stdout file, stderr file)."""
    out, err = folder / "stdout", folder / "stderr"
    cmd = [sys.executable, "-m", "audiomanip", "batch", *map(str, args)]
    return ns.popen(cmd, env=s3.env(), stdout=out.open("w"), stderr=err.open("w")), out, err


def test_s3_refusing_writes_gives_a_clear_error_and_no_object(cluster, inputs, tmp_path):
    ns, s3, ray, _ = cluster
    _, preset = inputs
    proc, _, err = start_batch(
        ns, s3, tmp_path, "s3://bucket1/in", "--preset-file", preset, "--output-dir", "s3://bucket1/denied",
        "--engine", "ray", "--address", ray.address,
    )  # fmt: skip
    assert proc.wait(timeout=300) == 1, err.read_text()
    state = s3.tool("dump", {"bucket": "bucket1", "prefix": "denied/", "into": str(tmp_path / "dl")})
    assert state["live"] == ["denied/report.json"]  # no output, no claim, no part
    assert not [k for k in state["versions"] if k.endswith(".wav")]  # not even an old version
    report = json.loads((tmp_path / "dl" / "denied" / "report.json").read_text())
    assert report["counts"] == {"done": 0, "skipped": 0, "failed": N_FILES}
    for f in report["files"]:
        if not f["in_path"].endswith("take07.wav"):
            assert "cannot write s3://bucket1/denied/" in f["error"] and "Access Denied" in f["error"]
    assert "Traceback" not in err.read_text()


def test_two_nodes_over_s3_lose_a_node_and_still_write_every_file_once(cluster, inputs, tmp_path):
    ns, s3, ray, _ = cluster
    _, preset = inputs
    args = ["s3://bucket1/in", "--preset-file", preset, "--output-dir", "s3://bucket1/out", "--engine", "ray",
            "--address", ray.address]  # fmt: skip
    proc, out, err = start_batch(ns, s3, tmp_path, *args)
    # kill the second node once a few outputs exist, while the batch is running
    assert s3.tool("wait", {"bucket": "bucket1", "prefix": "out/", "suffix": ".wav", "n": 3, "timeout": 240})[
        "keys"
    ]
    assert proc.poll() is None, "the batch ended before the node could be killed; make the files longer"
    ray.kill_worker()
    assert proc.wait(timeout=400) == 1, (out.read_text(), err.read_text())  # 1: the corrupt input

    state = s3.tool("dump", {"bucket": "bucket1", "prefix": "", "into": str(tmp_path / "dl")})
    good = [i for i in range(N_FILES) if i != 7]
    outputs = {f"out/take{i:02d}.wav" for i in good}
    wavs = {k for k in state["live"] if k.startswith("out/") and k.endswith(".wav")}
    assert wavs == outputs
    for key in outputs:  # exactly once: one version of each output object, never rewritten
        assert len(state["versions"][key]) == 1, (key, state["versions"][key])
    for key in state["live"]:  # only outputs, their records and the report: no claim, no part
        name = key.rsplit("/", 1)[-1]
        if key.startswith("out/"):
            assert name.endswith((".wav", ".audiomanip.json")) or name == "report.json", key
    for i in good:  # complete and correct audio
        y = tmp_path / "dl" / "out" / f"take{i:02d}.wav"
        assert sf.info(y).frames == int(SECONDS * SR)
        assert abs(f0(y) - hz(i)) < 1.0
    for i in range(N_FILES):  # inputs never written
        assert len(state["versions"][f"in/take{i:02d}.wav"]) == 1
    report = json.loads((tmp_path / "dl" / "out" / "report.json").read_text())
    assert report["counts"] == {"done": N_FILES - 1, "skipped": 0, "failed": 1}
    (failed,) = [f for f in report["files"] if f["status"] == "failed"]
    assert failed["in_path"].endswith("take07.wav")
    assert "s3://bucket1/in/take07.wav" in failed["error"] and "/tmp/" not in failed["error"]
    assert report["engine"] == "ray"

    # the same command again resumes: every output is current and skipped, nothing rewritten
    proc, out, err = start_batch(ns, s3, tmp_path, *args)
    assert proc.wait(timeout=300) == 1, err.read_text()
    again = s3.tool("dump", {"bucket": "bucket1", "prefix": "out/", "into": str(tmp_path / "dl2")})
    assert all(len(again["versions"][k]) == 1 for k in outputs)
    report = json.loads((tmp_path / "dl2" / "out" / "report.json").read_text())
    assert report["counts"] == {"done": 0, "skipped": N_FILES - 1, "failed": 1}


def test_local_engine_reads_and_writes_s3_too(cluster, inputs, tmp_path):
    ns, s3, _, _ = cluster
    _, preset = inputs
    proc, _, err = start_batch(
        ns, s3, tmp_path, "s3://bucket1/in", "--preset-file", preset, "--pattern", "take0[1-3].wav",
        "--output-dir", "s3://bucket1/local", "--workers", "2",
    )  # fmt: skip
    assert proc.wait(timeout=300) == 0, err.read_text()
    state = s3.tool("dump", {"bucket": "bucket1", "prefix": "local/", "into": str(tmp_path / "dl")})
    wavs = sorted(k for k in state["live"] if k.endswith(".wav"))
    assert wavs == [f"local/take0{i}.wav" for i in (1, 2, 3)]
    for i in (1, 2, 3):
        assert abs(f0(tmp_path / "dl" / "local" / f"take0{i}.wav") - hz(i)) < 1.0


DRIVER_PROBE = """
import atexit, json, sys
probe, model_dir, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], str) and args[0].startswith(model_dir):
        opened.append(args[0])
sys.addaudithook(hook)
def report():
    watched = ("audiomanip.inference", "onnxruntime", "torch")
    modules = sorted(m for m in sys.modules if m.startswith(watched))
    with open(probe, "w") as fh:
        json.dump({"opened": opened, "modules": modules}, fh)
atexit.register(report)
sys.argv = ["audiomanip", *argv]
import runpy
runpy.run_module("audiomanip", run_name="__main__")
"""


def test_actors_predict_the_prompts_and_the_driver_never_loads_the_model(cluster, tmp_path, monkeypatch):
    from audiomanip.batch.manifest import read_record
    from audiomanip.batch.plan import PromptModel
    from audiomanip.checkpoint import DEFAULT_MODEL_DIR

    ns, s3, ray, _ = cluster
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        sf.write(folder / f"t{i}.wav", sine(hz(i), 2.0, SR, amplitude=0.4).T, SR)
    prompts = ["warm tape", "a small room with lots of reverb"]
    (tmp_path / "prompts.txt").write_text("\n".join(prompts) + "\n")
    probe = tmp_path / "probe.json"
    args = ["batch", folder, "--prompts", tmp_path / "prompts.txt", "--output-dir", tmp_path / "out",
            "--strength", "0.8", "--engine", "ray", "--address", ray.address]  # fmt: skip

    def run_driver():
        cmd = [sys.executable, "-c", DRIVER_PROBE, probe, str(DEFAULT_MODEL_DIR), *map(str, args)]
        res = ns.run(cmd, env=s3.env(), capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-3000:]
        seen = json.loads(probe.read_text())
        # the driver never imported the model's runtime nor opened the model's files
        assert seen["modules"] == [] and seen["opened"] == [], seen
        return json.loads((tmp_path / "out" / "report.json").read_text())

    report = run_driver()
    assert report["counts"] == {"done": 6, "skipped": 0, "failed": 0}
    # what the actors predicted is what the library predicts (the local engine's path), with the
    # one ONNX Runtime thread the engines give their workers: another thread count can round the
    # 6th significant digit of a value differently
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    model = PromptModel(strength=0.8)
    presetter = model.presetter()
    expected = {p: json.loads(json.dumps(model.preset(presetter, p)[0].to_dict())) for p in prompts}
    assert expected[prompts[0]] != expected[prompts[1]]
    assert report["model"] == json.loads(json.dumps(presetter.model.info))
    for entry in report["files"]:
        assert entry["preset"] == expected[entry["label"]]
        assert read_record(entry["out_path"])["preset"] == expected[entry["label"]]  # the manifest too
        i = int(Path(entry["in_path"]).stem[1:])
        assert sf.info(entry["out_path"]).frames >= int(2.0 * SR)  # a reverb tail may follow
        assert abs(f0(Path(entry["out_path"])) - hz(i)) < 2.0

    # resuming judges the manifest against what the actors predict again: every output is current
    report = run_driver()
    assert report["counts"] == {"done": 0, "skipped": 6, "failed": 0}


def test_more_workers_than_the_cluster_has_cpus_still_finish(cluster, tmp_path):
    """4 actors asked of the one-CPU nodes (2, or 1 after the node-loss test): the extra ones
    wait for a CPU the whole batch. Jobs go
    only to actors that run, so none is held by a waiting actor (it was: the batch hung)."""
    ns, s3, ray, _ = cluster
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(6):
        sf.write(folder / f"t{i}.wav", sine(hz(i), 1.0, SR, amplitude=0.4).T, SR)
    proc, _, err = start_batch(
        ns, s3, tmp_path, folder, "--preset", "warm-tape", "--output-dir", tmp_path / "out",
        "--engine", "ray", "--address", ray.address, "--workers", "4",
    )  # fmt: skip
    assert proc.wait(timeout=240) == 0, err.read_text()
    said = re.search(r"4 workers asked for, the cluster has (\d) CPUs now", " ".join(err.read_text().split()))
    assert said and int(said.group(1)) in (1, 2), err.read_text()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["counts"] == {"done": 6, "skipped": 0, "failed": 0}
    for entry in report["files"]:
        assert abs(f0(Path(entry["out_path"])) - hz(int(Path(entry["in_path"]).stem[1:]))) < 2.0


def test_without_an_address_ray_starts_its_own_instance_whatever_a_stale_cluster_file_says(cluster, tmp_path):
    """No --address: a new local Ray instance, even where Ray's "current cluster" file still
    names a cluster that is gone (Ray's own default would try to join it for minutes)."""
    import shutil
    import tempfile

    ns, s3, _, _ = cluster
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        sf.write(folder / f"t{i}.wav", sine(hz(i), 1.0, SR, amplitude=0.4).T, SR)
    ray_tmp = Path(tempfile.mkdtemp(prefix="rayl", dir="/tmp"))  # short: Ray's socket paths are limited
    try:
        (ray_tmp / "ray").mkdir()
        (ray_tmp / "ray" / "ray_current_cluster").write_text("127.0.0.1:9")  # nothing listens there
        cmd = [sys.executable, "-m", "audiomanip", "batch", str(folder), "--preset", "warm-tape",
               "--output-dir", str(tmp_path / "out"), "--engine", "ray", "--workers", "1"]
        # HOME: the new instance writes its authentication token under ~/.ray (Ray's default)
        env = {**s3.env(), "RAY_TMPDIR": str(ray_tmp), "HOME": str(ray_tmp), "RAY_USAGE_STATS_ENABLED": "0"}
        res = ns.run(cmd, env=env,
                     capture_output=True, text=True, timeout=240)
        assert res.returncode == 0, res.stderr[-3000:]
        assert "127.0.0.1:9" not in res.stderr
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["counts"] == {"done": 2, "skipped": 0, "failed": 0}
    for entry in report["files"]:
        assert abs(f0(Path(entry["out_path"])) - hz(int(Path(entry["in_path"]).stem[1:]))) < 2.0
