#!/usr/bin/env python3
"""Derive presets/crowd_words.json from the SocialFX crowd data (run once; the runtime never
imports this script).

    python scripts/derive_crowd_words.py [--data-dir DIR] [--out presets/crowd_words.json]

The derivation itself is audiomanip.training.crowd_derive (documented there and in README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from audiomanip.training.crowd_derive import build_table
from audiomanip.training.socialfx import default_data_dir
from audiomanip.outputs import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=default_data_dir(),
                    help="The SocialFX CSVs (default: $AUDIOMANIP_SOCIALFX_DIR or ../shared/data/socialfx).")
    ap.add_argument("--out", type=Path, default=ROOT / "presets" / "crowd_words.json")
    ap.add_argument("--fit-steps", type=int, default=700, help="Adam steps of the 5-band EQ fit.")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    table = build_table(args.data_dir, progress=lambda m: print(f"[{time.perf_counter() - t0:6.1f} s] {m}",
                                                                 file=sys.stderr))
    # one word per line: compact, and a diff of a re-derivation stays readable
    words = table.pop("words")
    head = json.dumps(table, ensure_ascii=False, separators=(",", ":"))
    lines = [f"{json.dumps(w, ensure_ascii=False)}:{json.dumps(e, ensure_ascii=False, separators=(',', ':'))}"
             for w, e in words.items()]
    text = head[:-1] + ',"words":{\n' + ",\n".join(lines) + "\n}}"
    json.loads(text)  # never write a table the loader cannot read
    write_text_atomic(args.out, text, overwrite=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {len(words)} words)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
