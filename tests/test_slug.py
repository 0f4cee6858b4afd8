"""Slugs and output layout: safe file names for any prompt."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from audiomanip.outputs import SLUG_MAX_CHARS, metadata_text, plan_layout, slugify

SAFE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_slug_is_safe_for_any_text(text):
    slug = slugify(text)
    assert SAFE.match(slug), slug
    assert 1 <= len(slug) <= SLUG_MAX_CHARS
    assert "/" not in slug and "\\" not in slug and ".." not in slug
    assert not slug.startswith(("-", ".", "_"))
    assert slug == slugify(slug)  # idempotent


def test_slug_folds_unicode_and_punctuation():
    assert slugify("Warm Vintage Tape, with a small room!") == "warm_vintage_tape_with_a_small_room"
    assert slugify("Café Crème — très chaud") == "cafe_creme_tres_chaud"
    assert slugify("ＦＵＬＬ width") == "full_width"


def test_slug_never_empty_or_hostile():
    for text in ["", "   ", "////", "../../etc/passwd", "..", "-rf", ".hidden", "日本語", "🎸🎸"]:
        slug = slugify(text)
        assert SAFE.match(slug), (text, slug)
    assert slugify("../../etc/passwd") == "etc_passwd"
    assert slugify("日本語") == "preset"
    assert slugify("con") != "con"  # a reserved device name on Windows


def test_slug_is_bounded_at_a_word_boundary():
    slug = slugify("an extremely long description of a very warm vintage tape sound " * 5)
    assert len(slug) <= SLUG_MAX_CHARS
    assert not slug.endswith("_")
    assert slug.startswith("an_extremely_long_description")
    assert all(
        word in "an extremely long description of a very warm vintage tape sound".split()
        for word in slug.split("_")
    )


def test_layout_folder_and_names(tmp_path):
    now = dt.datetime(2026, 1, 2, 3, 4, 5)
    layout = plan_layout(Path("in/take.FLAC"), "warm_tape", output_root=tmp_path, now=now, plot=True)
    folder = tmp_path / "20260102_030405_warm_tape"
    assert layout.folder == folder
    assert layout.audio == folder / "warm_tape.flac"
    assert layout.preset_json == folder / "warm_tape_preset.json"
    assert layout.metadata == folder / "metadata.txt"
    assert layout.plot == folder / "warm_tape.png"
    folder.mkdir()
    second = plan_layout(Path("take.wav"), "warm_tape", output_root=tmp_path, now=now)
    assert second.folder == tmp_path / "20260102_030405_warm_tape_2"
    assert second.plot is None


def test_layout_with_output_path_writes_only_there(tmp_path):
    layout = plan_layout(Path("a.wav"), "x", output_path=tmp_path / "out.ogg")
    assert layout.all_paths() == [tmp_path / "out.ogg"]
    assert layout.folder is None


def test_metadata_text_aligns_keys():
    text = metadata_text({"input": "a.wav", "sample rate": "48000 Hz"})
    assert text.splitlines() == ["input:       a.wav", "sample rate: 48000 Hz"]
