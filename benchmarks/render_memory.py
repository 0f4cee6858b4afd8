"""Peak memory of rendering a 20-minute stereo 48 kHz file vs the process baseline.

Two fresh processes import the same modules (the renderer, audio I/O, numpy, pedalboard: what
``render_file`` needs; no torch); the baseline stops there, the other then renders the file
with ``render_file`` through EQ, distortion, compressor, reverb (a 1.4 s tail) and output gain,
streaming block by block. Figure and baseline are each process's peak resident memory (MiB,
``VmHWM`` of ``/proc/self/status``; ``ru_maxrss`` where that is missing). The target is under
400 MB (381 MiB); the note says whether torch was imported (it must not be).

    python benchmarks/render_memory.py [--minutes 20] [--sample-rate 48000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from _bench import Result, python, write_music

CHILD = r"""
import json, resource, sys, time
import numpy, pedalboard
from audiomanip import audio_io, rendering
out = {"seconds": 0.0}
if sys.argv[1] == "render":
    sys.path.insert(0, sys.argv[4])
    from render_speed import chain_preset
    t = time.perf_counter()
    rendering.render_file(chain_preset(False), sys.argv[2], sys.argv[3], overwrite=True)
    out["seconds"] = time.perf_counter() - t
out["torch"] = "torch" in sys.modules
# VmHWM: peak resident memory of this process image (ru_maxrss would include the parent's
# memory before exec on Linux).
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
out["peak_mib"] = (int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024
print(json.dumps(out))
"""


def _child(*args: str) -> dict:
    res = subprocess.run([python(), "-c", CHILD, *args], check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> Result:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--sample-rate", type=int, default=48000)
    args = ap.parse_args(argv)
    here = str(Path(__file__).resolve().parent)
    with tempfile.TemporaryDirectory() as tmp:
        src = write_music(Path(tmp) / "long.wav", args.minutes * 60.0, sample_rate=args.sample_rate)
        base = _child("import-only")
        run = _child("render", str(src), str(Path(tmp) / "out.wav"), here)
    khz = f"{args.sample_rate / 1000:g} kHz"
    return Result(f"peak memory, {args.minutes:g} min stereo {khz} render", run["peak_mib"], "MiB",
                  "same imports, no render", base["peak_mib"], "MiB",
                  f"render took {run['seconds']:.1f} s "
                  f"({args.minutes * 60 / max(run['seconds'], 1e-9):.0f}× real time); "
                  f"torch imported: {'yes' if run['torch'] else 'no'}")


if __name__ == "__main__":
    main().print()
