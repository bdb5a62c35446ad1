"""Use a trained PIQ interpreter: load it from the hub or a folder,
interpret audio files, and export a training run as a hub-ready folder."""

from speechbrain_piq.inference.export import export_run, push_to_hub
from speechbrain_piq.inference.interpreter import PIQAudioInterpreter
from speechbrain_piq.inference.result import InterpretationResult

__all__ = [
    "InterpretationResult",
    "PIQAudioInterpreter",
    "export_run",
    "push_to_hub",
]
