"""Streaming: block-wise rendering equals whole-signal rendering; memory stays flat on long files."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

from audiomanip.training.sources import sawtooth, white_noise
from audiomanip.params import Preset
from audiomanip.effects.pitch import PITCH_SEGMENT
from audiomanip.rendering import ChainRenderer, render

SR = 48000


def _full_chain(pitch: float = 0.0) -> Preset:
    p = Preset.default()
    settings = {
        "eq": {"band1_gain_db": 4.0, "band3_gain_db": -6.0, "band5_type": "low_pass", "band5_freq_hz": 9000.0},
        "distortion": {"drive_db": 9.0, "color": 0.4},
        "compressor": {"threshold_db": -24.0, "ratio": 4.0, "attack_ms": 3.0, "release_ms": 120.0, "makeup_db": 4.0},
        "reverb": {"room_size": 0.35, "pre_delay_ms": 12.5, "diffusion": 0.6, "damping": 0.4, "wet": 0.35},
        "output": {"gain_db": 3.0},
    }
    if pitch:
        settings["pitch"] = {"semitones": pitch}
    for name, values in settings.items():
        for k, v in values.items():
            p.set(name, k, v)
    return p


def _render_blocks(preset, x, block, **kw):
    r = ChainRenderer(preset, SR, x.shape[0], **kw)
    outs = [r.process(x[:, i : i + block]) for i in range(0, x.shape[1], block)]
    return np.concatenate(outs + [r.flush()], axis=1), r


@pytest.mark.parametrize("block", [10007, 777])
def test_blockwise_equals_whole_full_chain(block):
    x = 0.3 * white_noise(3.0, SR, channels=2, seed=7) + sawtooth(110.0, 3.0, SR, channels=2) * 0.2
    preset = _full_chain()
    whole = render(preset, x, SR)
    blocks, r = _render_blocks(preset, x, block)
    assert blocks.shape == whole.shape == (2, x.shape[1] + r.tail_frames)
    assert np.max(np.abs(blocks - whole)) < 1e-4
    one_block = ChainRenderer(preset, SR, 2)
    single = np.concatenate([one_block.process(x), one_block.flush()], axis=1)
    assert np.max(np.abs(single - whole)) < 1e-4


def test_blockwise_equals_whole_with_pitch_across_segments():
    # Longer than two pitch segments, so the crossfaded segment joins are exercised.
    n = 2 * PITCH_SEGMENT + 12345
    x = sawtooth(196.0, n / SR, SR, channels=1) * 0.3
    preset = _full_chain(pitch=-3.0)
    whole = render(preset, x, SR)
    blocks, r = _render_blocks(preset, x, 65537)
    assert blocks.shape == whole.shape == (1, n + r.tail_frames)
    assert np.max(np.abs(blocks - whole)) < 1e-4


_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from audiomanip.params import Preset
    from audiomanip.rendering import render_file
    p = Preset.default()
    p.set("eq", "band2_gain_db", -3.0); p.set("eq", "band4_gain_db", 2.5)
    p.set("compressor", "threshold_db", -18.0); p.set("compressor", "ratio", 3.0)
    p.set("reverb", "room_size", 0.1); p.set("reverb", "wet", 0.2)
    t = time.perf_counter()
    res = render_file(p, sys.argv[1], sys.argv[2])
    # VmHWM is this process's own peak: ru_maxrss would carry over the forking parent's peak.
    hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"rss_mb": hwm_kb / 1024.0,
                      "seconds": time.perf_counter() - t, "in_frames": res.in_frames,
                      "out_frames": res.out_frames, "peak_dbfs": res.peak_dbfs,
                      "torch": "torch" in sys.modules}))
    """
)


@pytest.mark.slow
def test_twenty_minute_file_renders_in_bounded_memory(tmp_path):
    frames = 20 * 60 * SR
    src, dst = tmp_path / "long.wav", tmp_path / "long_out.wav"
    rng = np.random.default_rng(0)
    block = 1 << 20
    with sf.SoundFile(src, "w", SR, 2, subtype="FLOAT") as f:  # written in blocks, never held whole
        t0 = 0
        while t0 < frames:
            n = min(block, frames - t0)
            t = (t0 + np.arange(n)) / SR
            tone = 0.3 * np.sin(2 * np.pi * 220.0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * t))
            f.write((tone[:, None] + 0.05 * rng.standard_normal((n, 2))).astype(np.float32))
            t0 += n
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(src), str(dst)], capture_output=True, text=True,
                          check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"20-minute render: peak RSS {stats['rss_mb']:.0f} MB, {stats['seconds']:.1f} s")
    assert stats["in_frames"] == frames
    info = sf.info(dst)
    assert (info.samplerate, info.channels, info.subtype) == (SR, 2, "FLOAT")
    assert info.frames == stats["out_frames"] > frames  # the reverb tail was flushed
    assert stats["peak_dbfs"] <= -0.1 + 1e-6
    assert stats["rss_mb"] < 400
    assert not stats["torch"]  # the render path runs on numpy
