"""Modules of training/, evaluation/ and vocab/ stay small: each does one job (issue 10: no module
over about 400 lines unless it really is one thing). A module that grows past the limit is split
along its seams, not allowed here."""

from __future__ import annotations

from pathlib import Path

import audiomanip

#: "About 400 lines": a little room so that a docstring line does not force a split.
MAX_LINES = 420
PACKAGES = ("training", "evaluation", "vocab")


def test_training_evaluation_and_vocab_modules_stay_small():
    root = Path(audiomanip.__file__).resolve().parent
    sizes = {f"{pkg}/{p.name}": len(p.read_text(encoding="utf-8").splitlines())
             for pkg in PACKAGES for p in sorted((root / pkg).glob("*.py"))}
    assert len(sizes) > 20  # the packages were found
    too_big = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not too_big, f"split these modules along their seams: {too_big}"
