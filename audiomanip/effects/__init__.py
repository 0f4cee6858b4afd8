"""The effects: one module per effect, each declaring everything that runs it.

``audiomanip/effects/<name>.py`` holds effect ``name``'s math and ends with ``EFFECT``, its
:class:`~audiomanip.effects.registry.EffectEntry`: the schema entry (``params.SCHEMA``), the
differentiable function, the streaming render stage and the ffmpeg filter
(:mod:`~audiomanip.effects.registry` collects them; README.md's "Adding an effect" walks through
a new one). The effects: :mod:`~audiomanip.effects.pitch`, :mod:`~audiomanip.effects.eq`,
:mod:`~audiomanip.effects.distortion`, :mod:`~audiomanip.effects.compressor`,
:mod:`~audiomanip.effects.reverb`, :mod:`~audiomanip.effects.output`;
:mod:`~audiomanip.effects.chain` runs a whole preset in the schema's order (torch, for training).

The formulas are written against the array API (:mod:`~audiomanip.effects.arrays`), batched
``[batch, channels, samples]`` in physical units: numpy arrays in, numpy out (the renderer),
torch tensors in, torch out with autograd (training); device and dtype follow the input audio.
Importing this package or an effect module does not import torch; :mod:`~audiomanip.effects.chain`
does.
"""
