"""The effects' math, once for numpy and torch: batched ``[batch, channels, samples]``, physical units.

One module per effect (:mod:`~audiomanip.effects.eq`, :mod:`~audiomanip.effects.distortion`,
:mod:`~audiomanip.effects.compressor`, :mod:`~audiomanip.effects.reverb`,
:mod:`~audiomanip.effects.output`) and :mod:`~audiomanip.effects.chain`, which runs a whole preset in
the schema's order (torch, for training). The formulas are written against the array API
(:mod:`~audiomanip.effects.arrays`): numpy arrays in, numpy out (the renderer), torch tensors in,
torch out with autograd (training); device and dtype follow the input audio. Importing this
package or an effect module does not import torch; :mod:`~audiomanip.effects.chain` does.
"""
