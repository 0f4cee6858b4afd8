"""The preset model in torch: fusion of text (and optional audio) views, per-effect heads.

Public API: :class:`PresetModel` (``.predict``), :func:`build_model` (a model from a
checkpoint's config and weights), :class:`Prediction`, :class:`ModelConfig`,
:class:`PresetNet`. Loading a checkpoint is :func:`audiomanip.load_model` (``backend="torch"``
for this model). Importing this package imports torch.
"""

from audiomanip.model.network import ModelConfig, PresetNet, count_parameters
from audiomanip.model.preset_model import Prediction, PresetModel, build_model, model_config_dict

__all__ = [
    "ModelConfig",
    "PresetNet",
    "Prediction",
    "PresetModel",
    "build_model",
    "count_parameters",
    "model_config_dict",
]
