"""Would the model's prediction delta make a good edit for words the corpus does not know?

Not a speed benchmark: it prints, for edit prompts, what the shipped model predicts minus what it
predicts for a neutral prompt, on the parameters the words are about (reverb wet, high-shelf
gain, drive). ``audiomanip/preset_edit.py`` refuses unknown words instead of using this delta
because it points the wrong way for negations and unseen words (figures in README.md, "Editing a
preset with words").

    OMP_NUM_THREADS=1 python benchmarks/edit_model_delta.py [--checkpoint-path CKPT]
"""

from __future__ import annotations

import argparse

NEUTRAL = "make it sound"
PROMPTS = ("less reverb", "much less reverb", "more reverb", "brighter", "less bright", "less distortion",
           "crunchier", "less crunchy", "sparklier", "silkier")


def _features(preset) -> dict[str, float]:
    v, on = preset.values, preset.enabled
    return {
        "reverb wet": v["reverb"]["wet"] if on["reverb"] else 0.0,
        "band5 gain dB": v["eq"]["band5_gain_db"] if on["eq"] else 0.0,
        "drive dB": v["distortion"]["drive_db"] if on["distortion"] else 0.0,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint-path", default=None)
    args = ap.parse_args(argv)
    from audiomanip import load_model

    model = load_model(checkpoint_path=args.checkpoint_path, device="cpu")
    base = _features(model.predict(NEUTRAL).preset)
    print(f"{'prompt':20s} " + "  ".join(f"{k:>14s}" for k in base))
    print(f"{NEUTRAL!r:20s} " + "  ".join(f"{v:14.2f}" for v in base.values()))
    for prompt in PROMPTS:
        f = _features(model.predict(prompt).preset)
        print(f"{prompt!r:20s} " + "  ".join(f"{f[k]:14.2f}" for k in base) + "   (delta "
              + ", ".join(f"{f[k] - base[k]:+.2f}" for k in base) + ")")


if __name__ == "__main__":
    main()
