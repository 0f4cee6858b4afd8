"""The effects' math, once for numpy and torch: batched ``[batch, channels, samples]``, physical units.

One module per effect (:mod:`~audiomanip.dsp.eq`, :mod:`~audiomanip.dsp.distortion`,
:mod:`~audiomanip.dsp.compressor`, :mod:`~audiomanip.dsp.reverb`,
:mod:`~audiomanip.dsp.output`) and :mod:`~audiomanip.dsp.chain`, which runs a whole preset in
the schema's order (torch, for training). The formulas are written against the array API
(:mod:`~audiomanip.dsp.arrays`): numpy arrays in, numpy out (the renderer), torch tensors in,
torch out with autograd (training); device and dtype follow the input audio. Importing this
package or an effect module does not import torch; :mod:`~audiomanip.dsp.chain` does.
"""
