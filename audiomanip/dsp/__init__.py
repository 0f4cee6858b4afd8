"""Differentiable effects in torch: batched ``[batch, channels, samples]``, physical units.

One module per effect (:mod:`~audiomanip.dsp.eq`, :mod:`~audiomanip.dsp.distortion`,
:mod:`~audiomanip.dsp.compressor`, :mod:`~audiomanip.dsp.reverb`,
:mod:`~audiomanip.dsp.output`) and :mod:`~audiomanip.dsp.chain`, which runs a whole preset in
the schema's order. Device and dtype follow the input audio. Importing this package does not
import torch; import the submodules.
"""
