"""The numpy namespace of the effect math: numpy's own main namespace (numpy >= 2.1) gives the
same numbers, bit for bit, as array-api-compat's numpy wrapper, and the render path does not
import that wrapper (it costs about 60 ms of start-up)."""

import subprocess
import sys

import array_api_compat.numpy as compat_numpy
import numpy as np
import pytest
from numpy.lib import NumpyVersion

from audiomanip.effects import arrays
from audiomanip.effects.compressor import static_curve_db
from audiomanip.effects.distortion import curve_constants, dc_blocker_coefficients, waveshape
from audiomanip.effects.eq import biquad_coefficients, eq_response
from audiomanip.effects.reverb import reverb_ir
from audiomanip.params import EQ_BAND_TYPES

SR = 44100


def _effect_math() -> list[np.ndarray]:
    """Every shared formula on numpy inputs (random EQ bands, a waveshaper, a gain computer,
    two reverb IRs, the DC blocker)."""
    rng = np.random.default_rng(12)
    types = rng.integers(0, len(EQ_BAND_TYPES), size=(3, 5))
    freq = np.exp(rng.uniform(np.log(20.0), np.log(20000.0), (3, 5)))
    gain, q = rng.uniform(-18, 18, (3, 5)), np.exp(rng.uniform(np.log(0.1), np.log(10.0), (3, 5)))
    x = rng.uniform(-1, 1, (2, 2, 300))
    drive, color = np.array([6.0, 30.0]), np.array([0.3, 0.9])
    return [
        *biquad_coefficients(types, freq, gain, q, SR),
        eq_response(SR, np.geomspace(20.0, 20000.0, 50), types, freq, gain, q),
        waveshape(x, drive, color),
        *curve_constants(drive, color),
        static_curve_db(np.linspace(-60.0, 0.0, 61), -24.0, 4.0, 3.0, knee_db=2.0),
        reverb_ir(SR, *(np.array([v]) for v in (0.3, 8.4, 0.6, 0.5))),
        reverb_ir(SR, *(np.array([v, w]) for v, w in ((0.8, 0.2), (20.0, 0.0), (0.9, 0.1), (0.1, 0.9)))),
        *dc_blocker_coefficients(SR, arrays.numpy_namespace()),
    ]


@pytest.mark.skipif(NumpyVersion(np.__version__) < "2.1.0", reason="numpy < 2.1 always uses the wrapper")
def test_numpy_namespace_gives_the_wrappers_numbers_bit_for_bit(monkeypatch):
    assert arrays.namespace(np.zeros(2)) is np and arrays.namespace() is np
    ours = _effect_math()
    monkeypatch.setattr(arrays, "numpy_namespace", lambda: compat_numpy)
    assert arrays.namespace(np.zeros(2)) is compat_numpy
    wrapped = _effect_math()
    assert len(ours) == len(wrapped)
    for a, b in zip(ours, wrapped):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b)


def test_rendering_imports_no_array_api_compat_numpy(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "from audiomanip.params import Preset\n"
        "from audiomanip.rendering import render\n"
        "p = Preset.default()\n"
        "for name, key, value in (('eq', 'band1_gain_db', 4.0), ('distortion', 'drive_db', 12.0),\n"
        "                         ('compressor', 'threshold_db', -20.0), ('reverb', 'wet', 0.3)):\n"
        "    p.set(name, key, value)\n"
        "t = np.arange(4410) / 44100\n"
        "render(p, np.stack([0.3 * np.sin(2 * np.pi * 220 * t)] * 2), 44100)\n"
        "print('array_api_compat.numpy' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    expected = "True" if NumpyVersion(np.__version__) < "2.1.0" else "False"
    assert proc.stdout.strip().splitlines()[-1] == expected
