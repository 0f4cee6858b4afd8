"""``eval --suite outcome``: its sources differ in the features the intents measure, its figures
follow from measured changes, and it runs through the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from audiomanip import audio_profile as AP
from audiomanip.evaluation.outcome import OUTCOME_PROMPTS, OUTCOME_SAMPLE_RATE, asked_move, outcome_sources
from audiomanip.training.outcomes import INTENTS

SR = OUTCOME_SAMPLE_RATE


def test_at_least_ten_intents_over_every_measurable_family():
    assert len(OUTCOME_PROMPTS) >= 10
    assert {p.intent for p in OUTCOME_PROMPTS} == set(INTENTS)


def test_sources_differ_in_the_features_the_intents_measure():
    sources = dict(outcome_sources())
    assert len(sources) >= 6 * 3
    for base in ("music", "instrument", "drums"):
        bass = {v: float(AP.band_share(sources[f"{base}/{v}"], SR, 0, 150)) for v in ("boomy", "thin")}
        treble = {v: float(AP.band_share(sources[f"{base}/{v}"], SR, 4000, 8000)) for v in ("bright", "dark")}
        assert bass["boomy"] > 1.3 * bass["thin"] and treble["bright"] > 1.5 * treble["dark"], base


def test_asked_move_is_signed_by_the_request():
    assert asked_move("bass", 1, 0.1, 0.2) == pytest.approx(math.log(2))
    assert asked_move("bass", -1, 0.1, 0.2) == pytest.approx(-math.log(2))
    assert asked_move("density", 1, 12.0, 9.0) == pytest.approx(math.log(12 / 9))  # crest falls: asked way


def test_cli_outcome_suite_on_the_shipped_model(tmp_path):
    from audiomanip.commands.app import app
    from typer.testing import CliRunner

    report = tmp_path / "outcome.json"
    result = CliRunner().invoke(app, ["eval", "--suite", "outcome", "--backend", "onnx", "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "outcome suite" in result.output
    data = json.loads(report.read_text())["suites"]["outcome"]
    assert data["n_intents"] >= 10 and data["n_sources"] >= 6
    by_prompt = {r["prompt"]: r for r in data["intents"]}
    for row in data["intents"]:
        for path in ("view", "text_only"):
            assert 0.0 <= row[path]["accuracy"] <= 1.0 and row[path]["spread"] >= 0.0
    # a stronger intensity word moves further, the same way
    assert by_prompt["a bit brighter"]["text_only"]["mean_change"] > by_prompt["brighter"]["text_only"]["mean_change"] \
        > by_prompt["much brighter"]["text_only"]["mean_change"]
    if not data["audio_view"]:  # words only: one preset for every source
        assert all(r["spread_ratio"] == pytest.approx(1.0) for r in data["intents"])
    assert np.isfinite(data["summary"]["view_accuracy"])
