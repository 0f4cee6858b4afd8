"""Untrusted preset files through the command line (issue 6): `--preset-file` of apply, batch and
export-preset.

A preset file may be hostile (YAML object tags that would run code, a "billion laughs" of
aliases, absurd nesting or numbers), wrong (unknown or missing keys, out-of-range values, another
schema version, JSON that is not a preset) or merely unusual (a byte-order mark). Each ends in one
clear stderr line with the preset exit code, or in a preset that is used with every filled-in or
clamped value reported; nothing is ever executed. The library-level checks of ``Preset`` are in
tests/test_params.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from cli_helpers import assert_user_error, digests, invoke

from audiomanip.training.sources import sine
from audiomanip.errors import PresetFileError
from audiomanip.params import SCHEMA, SCHEMA_VERSION, Preset, effect

SR = 16000
CODE = PresetFileError.exit_code


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sf.write(tmp_path / "tone.wav", sine(1000.0, 0.5, SR, amplitude=0.2).T, SR, subtype="FLOAT")
    return tmp_path


def dry_run(preset_file, *extra):
    return invoke("apply", "tone.wav", "--preset-file", preset_file, "--dry-run", "--json", *extra)


def used_preset(res) -> Preset:
    assert res.exit_code == 0, res.output
    return Preset.from_dict(json.loads(res.stdout)["preset"], strict=True)


def stderr_lines(res, prefix: str) -> list[str]:
    return [line for line in res.stderr.splitlines() if line.startswith(prefix)]


# ------------------------------------------------------------------ code in YAML is never run
PAYLOADS = {
    "os.system": "!!python/object/apply:os.system ['touch {marker}']",
    "subprocess": "!!python/object/apply:subprocess.check_call [['touch', '{marker}']]",
    "exec": "!!python/object/apply:builtins.exec [\"open('{marker}', 'w').close()\"]",
    "new-object": "!!python/object/new:pathlib.Path ['{marker}']",
    "name-tag": "!!python/name:os.system",
    "module-tag": "!!python/module:os",
}


@pytest.mark.parametrize("where", ["top", "value", "name"])
@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=list(PAYLOADS))
def test_yaml_object_tags_are_refused_and_never_run(work, payload, where):
    marker = work / "pwned-marker"
    tag = payload.format(marker=marker)
    if "os.system" in payload and "apply" in payload:
        # the payload is real: an unsafe loader runs it and creates the marker
        yaml.unsafe_load(tag)
        assert marker.exists()
        marker.unlink()
    text = {
        "top": f"{tag}\n",
        "value": f"output:\n  gain_db: {tag}\n",
        "name": f"name: {tag}\noutput:\n  gain_db: -3\n",
    }[where]
    (work / "evil.yaml").write_text(text)
    before = digests(work)
    for cmd in (
        ["apply", "tone.wav", "--preset-file", "evil.yaml"],
        ["batch", ".", "--preset-file", "evil.yaml", "--output-dir", "out"],
        ["export-preset", "--preset-file", "evil.yaml", "-o", "copy.json"],
    ):
        res = invoke(*cmd)
        assert_user_error(res, CODE, "evil.yaml")
        assert not marker.exists(), f"{cmd[0]} ran the YAML payload"
    assert "no object tags" in res.stderr or "not valid YAML" in res.stderr
    assert digests(work) == before  # nothing written by any of the three


def test_billion_laughs_is_refused_quickly(work):
    """Nested aliases stand for 9**9 items: the loader shares them; nothing may expand them."""
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(8):
        prev, cur = chr(97 + i), chr(98 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    for field in ("output:\n  gain_db: *i", "name: *i\noutput:\n  gain_db: 1", "eq:\n  enabled: *i"):
        (work / "lol.yaml").write_text("\n".join(lines) + "\n" + field + "\n")
        line = assert_user_error(dry_run("lol.yaml"), CODE, "lol.yaml")
        assert len(line) < 500


@pytest.mark.parametrize(
    "text, words",
    [
        ("[" * 100_000 + "]" * 100_000, "nested"),
        ('{"output": {"gain_db": 1' + "0" * 5000 + "}}", "digits"),
    ],
    ids=["deep-nesting", "5000-digit-number"],
)
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_absurd_structures_are_clear_errors(work, text, words, suffix):
    (work / f"absurd{suffix}").write_text(text)
    assert_user_error(dry_run(f"absurd{suffix}"), CODE, f"absurd{suffix}", words)


def test_huge_number_is_out_of_range_and_clamps(work):
    (work / "huge.json").write_text('{"output": {"gain_db": -1' + "0" * 400 + "}}")
    assert_user_error(dry_run("huge.json"), CODE, "output.gain_db", "out of range", "--clamp")
    res = dry_run("huge.json", "--clamp")
    assert used_preset(res)["output"]["gain_db"] == effect("output").param("gain_db").low
    assert any("clamped" in line for line in stderr_lines(res, "warning:"))


# ------------------------------------------------------------------ unknown and missing keys
def test_unknown_keys_are_reported_and_ignored(work):
    (work / "typos.yaml").write_text(
        "schema_version: 1\n"
        "eq:\n  band3_gain_db: 6\n  band3_gian_db: 9\n"
        "reverbb:\n  wet: 0.9\n"
        "output:\n  gain_db: -2\n  colour: red\n"
    )
    res = dry_run("typos.yaml")
    preset = used_preset(res)
    warnings = " ".join(stderr_lines(res, "warning:"))
    for key in ("eq.band3_gian_db", "'reverbb'", "output.colour"):
        assert key in warnings, (key, res.stderr)
    assert preset["eq"]["band3_gain_db"] == 6 and preset["output"]["gain_db"] == -2
    assert not preset.enabled["reverb"]  # the misspelt effect did not switch reverb on
    assert "Traceback" not in res.output


def test_missing_keys_are_filled_with_defaults_and_reported(work):
    (work / "partial.yaml").write_text("eq:\n  band3_gain_db: 6\n")
    res = dry_run("partial.yaml")
    preset = used_preset(res)
    default = Preset.default()
    assert preset.enabled["eq"] and preset["eq"]["band3_gain_db"] == 6
    for name, value in default["eq"].items():
        if name != "band3_gain_db":
            assert preset["eq"][name] == value, name
    for e in SCHEMA:
        if e.name != "eq":
            assert preset.enabled[e.name] == default.enabled[e.name] and preset[e.name] == default[e.name]
    notes = [line for line in res.stderr.splitlines() if "default" in line]
    assert len(notes) == 1, res.stderr  # one line, not one per missing value
    n_missing = sum(1 for _ in effect("eq").flat_params()) - 1
    assert f"{n_missing} value(s)" in notes[0] and "eq.band1_type" in notes[0]
    assert all(e.name in notes[0] for e in SCHEMA if e.name != "eq")
    # the same report when batch and export-preset read the file
    for cmd in (
        ["batch", ".", "--preset-file", "partial.yaml", "--output-dir", "out", "--workers", "1"],
        ["export-preset", "--preset-file", "partial.yaml", "-f", "json", "-o", "full.json"],
    ):
        res = invoke(*cmd)
        assert res.exit_code == 0, res.output
        assert any(f"{n_missing} value(s)" in line for line in res.stderr.splitlines()), res.stderr
    # the exported file is complete: read back without a single note
    assert Preset.load(work / "full.json", strict=True).notes == []


def test_a_complete_file_is_read_silently(work):
    p = Preset.default()
    p.set("reverb", "wet", 0.4)
    p.save(work / "complete.yaml")
    res = dry_run("complete.yaml")
    assert used_preset(res) == p and res.stderr.strip() == ""


# ------------------------------------------------------------------ out of range, wrong types
@pytest.mark.parametrize(
    "body, key, shown",
    [
        ("eq:\n  band2_freq_hz: 50000\n", "eq.band2_freq_hz", "50000"),
        ("reverb:\n  wet: -0.5\n", "reverb.wet", "-0.5"),
        ("compressor:\n  ratio: 0.5\n", "compressor.ratio", "0.5"),
        ("pitch:\n  semitones: 24\n", "pitch.semitones", "24"),
    ],
    ids=["freq", "wet", "ratio", "pitch"],
)
def test_out_of_range_is_an_error_or_a_reported_clamp(work, body, key, shown):
    (work / "range.yaml").write_text(body)
    ename, pname = key.split(".")
    p = effect(ename).param(pname)
    assert_user_error(
        dry_run("range.yaml"), CODE, "range.yaml", key, shown, "out of range", p.range_text(), "--clamp"
    )
    res = dry_run("range.yaml", "--clamp")
    preset = used_preset(res)
    assert preset[ename][pname] == (p.low if float(shown) < p.low else p.high)
    clamps = [line for line in stderr_lines(res, "warning:") if "clamped" in line]
    assert len(clamps) == 1 and key in clamps[0]


def test_every_clamp_is_reported(work):
    (work / "many.yaml").write_text("eq:\n  band1_gain_db: 40\n  band5_q: 99\noutput:\n  gain_db: -100\n")
    res = dry_run("many.yaml", "--clamp")
    used_preset(res)
    clamps = [line for line in stderr_lines(res, "warning:") if "clamped" in line]
    assert len(clamps) == 3
    res = invoke(
        "batch", ".", "--preset-file", "many.yaml", "--clamp", "--output-dir", "out", "--workers", "1"
    )
    assert res.exit_code == 0, res.output
    assert sum("clamped" in line for line in res.stderr.splitlines()) == 3


@pytest.mark.parametrize(
    "body, words",
    [
        ("output:\n  gain_db: loud\n", ["must be a number"]),
        ("output:\n  gain_db: .nan\n", ["finite"]),
        ("output:\n  gain_db: -.inf\n", ["finite"]),
        ("output:\n  gain_db: true\n", ["must be a number"]),
        ("output:\n  gain_db: [1, 2]\n", ["must be a number"]),
        ("eq:\n  band1_type: notch\n", ["notch", "low_shelf", "high_pass"]),
        ("eq:\n  enabled: maybe\n", ["true or false"]),
        ("eq: 5\n", ["mapping"]),
        ("name: {a: 1}\noutput:\n  gain_db: 1\n", ["name must be text"]),
    ],
    ids=[
        "word",
        "nan",
        "inf",
        "bool",
        "list",
        "bad-choice",
        "bad-enabled",
        "effect-not-mapping",
        "name-mapping",
    ],
)
def test_wrong_types_are_errors_even_with_clamp(work, body, words):
    (work / "typed.yaml").write_text(body)
    for extra in ([], ["--clamp"]):
        assert_user_error(dry_run("typed.yaml", *extra), CODE, "typed.yaml", *words)


@pytest.mark.parametrize("version", ["2", "0", "-1", "'1'", "1.5", "null", "[1]"])
def test_other_schema_versions_are_refused(work, version):
    (work / "v.yaml").write_text(f"schema_version: {version}\noutput:\n  gain_db: -3\n")
    assert_user_error(dry_run("v.yaml"), CODE, "schema_version", str(SCHEMA_VERSION))
    (work / "v.json").write_text(
        json.dumps({"schema_version": yaml.safe_load(version), "output": {"gain_db": -3}})
    )
    assert_user_error(dry_run("v.json"), CODE, "schema_version")


# ------------------------------------------------------------------ files that are not presets
NOT_PRESETS = {
    "empty-list.json": "[]",
    "string.json": '"warm tape"',
    "number.json": "42",
    "null.json": "null",
    "empty-object.json": "{}",
    "package.json": json.dumps({"name": "my-app", "version": "1.0.0", "dependencies": {"left-pad": "^1"}}),
    "report.json": json.dumps({"created": "2026-01-01", "counts": {"done": 1}, "files": []}),
    "checkpoint-config.json": json.dumps(
        {
            "format": "audiomanip-preset-model",
            "schema_version": 1,
            "encoder": {"name": "all-MiniLM-L6-v2", "dim": 384},
        }
    ),
    "truncated.json": '{"output": {"gain_db": -3',
    "empty.yaml": "",
    "comment-only.yaml": "# nothing here\n",
    "list.yaml": "- eq\n- reverb\n",
    "tabs.yaml": "output:\n\tgain_db: 1\n",
    "binary.yaml": None,  # PNG bytes
    "utf16.json": None,  # a preset saved as UTF-16
}


@pytest.mark.parametrize("name", list(NOT_PRESETS))
def test_files_that_are_not_presets(work, name):
    path = work / name
    if name == "binary.yaml":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    elif name == "utf16.json":
        path.write_bytes(Preset.default().to_json().encode("utf-16"))
    else:
        path.write_text(NOT_PRESETS[name])
    before = digests(work)
    assert_user_error(dry_run(name), CODE, name)
    res = invoke("apply", "tone.wav", "--preset-file", name)
    assert_user_error(res, CODE, name)
    assert digests(work) == before and not (work / "output").exists()


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_missing_preset_file_or_a_folder(work, what):
    if what == "directory":
        (work / "presets.yaml").mkdir()
    assert_user_error(dry_run("presets.yaml"), CODE, "presets.yaml")


def test_byte_order_mark_is_accepted(work):
    p = Preset.default()
    p.set("output", "gain_db", -3.0)
    for name, text in (("bom.json", p.to_json()), ("bom.yaml", p.to_yaml())):
        (work / name).write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
        assert used_preset(dry_run(name)) == p


# ------------------------------------------------------------------ nothing lost on the way back
def test_preset_json_written_by_apply_reproduces_the_run(work):
    p = Preset.default()
    p.set("eq", "band2_type", "peak")
    p.set("eq", "band2_freq_hz", 1234.5678)
    p.set("eq", "band2_gain_db", -7.25)
    p.set("distortion", "drive_db", 8.0)
    p.set("reverb", "wet", 0.3)
    p.name = "my «favourite» preset ☕"
    p.save(work / "fav.yaml")
    res = invoke("apply", "tone.wav", "--preset-file", "fav.yaml", "--json")
    assert res.exit_code == 0, res.output
    first = json.loads(res.stdout)
    saved = Path(first["preset_file"])
    res = invoke("apply", "tone.wav", "--preset-file", saved, "-o", "again.wav", "--json")
    assert res.exit_code == 0, res.output
    assert res.stderr.strip() == ""  # the saved file is complete: no notes
    assert Preset.from_dict(json.loads(res.stdout)["preset"]) == p
    a, _ = sf.read(first["output"], dtype="float32")
    b, _ = sf.read(work / "again.wav", dtype="float32")
    np.testing.assert_array_equal(a, b)
    assert math.isfinite(float(np.max(np.abs(b)))) and np.max(np.abs(b)) > 0
