"""SpeechBrain's ``FileTrainLogger``, importable from here.

Upstream's PIQ hparams files with every ``speechbrain.`` swapped for
``speechbrain_piq.`` name them so (docs/upstream_compatibility.md).
"""

from speechbrain.utils.train_logger import FileTrainLogger

__all__ = ["FileTrainLogger"]
