"""The preset model: fusion of text (and optional audio) views, per-effect heads, ``load_model``.

Public API: :func:`load_model`, :class:`PresetModel` (``.predict``), :class:`Prediction`,
:class:`ModelConfig`, :class:`PresetNet`. Importing this package imports torch.
"""

from audiomanip.model.network import ModelConfig, PresetNet, count_parameters
from audiomanip.model.preset_model import Prediction, PresetModel, build_model, load_model, model_config_dict

__all__ = [
    "ModelConfig",
    "PresetNet",
    "Prediction",
    "PresetModel",
    "build_model",
    "count_parameters",
    "load_model",
    "model_config_dict",
]
