"""SpeechBrain's ``EpochCounter``, importable from here.

Upstream's PIQ hparams files with every ``speechbrain.`` swapped for
``speechbrain_piq.`` name them so (docs/upstream_compatibility.md).
"""

from speechbrain.utils.epoch_loop import EpochCounter

__all__ = ["EpochCounter"]
