"""Fast, streaming rendering of a preset on audio: the same math as :mod:`audiomanip.effects`.

* :mod:`~audiomanip.rendering.chain`: :class:`ChainRenderer` (block by block) and :func:`render`
  (in memory) run the effects of :data:`audiomanip.effects.registry.REGISTRY`, each effect's
  :class:`~audiomanip.rendering.stage.Stage` (declared in ``audiomanip/effects/<name>.py``), then
  peak safety;
* :mod:`~audiomanip.rendering.file`: :func:`render_file`, a file in, a file out (atomically);
* :mod:`~audiomanip.rendering.stage`: the :class:`Stage` protocol every effect's renderer follows;
* :mod:`~audiomanip.rendering.limiter`: the look-ahead peak limiter (ceiling
  :data:`PEAK_CEILING_DBFS`);
* :mod:`~audiomanip.rendering.iir`: numpy biquad cascades (the EQ, the distortion's DC blocker, the
  loudness meter's K-weighting); :mod:`~audiomanip.rendering.convolution`: FFT convolution (the
  reverb). A file's input is resampled by :class:`audiomanip.audio_io.StreamResampler`.
"""

from audiomanip.rendering.chain import ChainRenderer, render
from audiomanip.rendering.file import RenderResult, render_file
from audiomanip.rendering.limiter import PEAK_CEILING_DBFS
from audiomanip.rendering.stage import BLOCK_FRAMES, Stage

__all__ = ["BLOCK_FRAMES", "PEAK_CEILING_DBFS", "ChainRenderer", "RenderResult", "Stage", "render",
           "render_file"]
