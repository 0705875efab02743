"""The seed's import path: ``from edgeml.interfaces import InferenceServer, ...``."""

from .action import ActionClient, ActionConfig, ActionServer
from .inference import InferenceClient, InferenceServer
from .trainer import DataTable, TrainerClient, TrainerConfig, TrainerServer

__all__ = [
    "ActionClient",
    "ActionConfig",
    "ActionServer",
    "DataTable",
    "InferenceClient",
    "InferenceServer",
    "TrainerClient",
    "TrainerConfig",
    "TrainerServer",
]
