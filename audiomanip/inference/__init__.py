"""The preset model at run time: ONNX Runtime, numpy and tokenizers, never torch.

- :mod:`~audiomanip.inference.heads`: the heads' layout and head outputs -> presets (numpy);
- :mod:`~audiomanip.inference.predictor`: ``predict`` over any runtime's head outputs;
- :mod:`~audiomanip.inference.weights`: ONNX graphs that read their weights from a safetensors file;
- :mod:`~audiomanip.inference.text_encoder`: the default text encoder (all-MiniLM-L6-v2) on ONNX Runtime;
- :mod:`~audiomanip.inference.model`: the preset network on ONNX Runtime (:class:`OnnxPresetModel`);
- :mod:`~audiomanip.inference.loader`: ``load_model(..., backend="auto"|"onnx"|"torch")``;
- :mod:`~audiomanip.inference.export`: writes the ONNX graphs (imports torch; training side):
  ``python -m audiomanip.inference.export CHECKPOINT``.

Importing this package imports nothing heavy.
"""
