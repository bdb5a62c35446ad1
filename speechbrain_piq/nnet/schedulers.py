"""SpeechBrain's ``ReduceLROnPlateau``, importable from here.

Upstream's PIQ hparams files with every ``speechbrain.`` swapped for
``speechbrain_piq.`` name them so (docs/upstream_compatibility.md).
"""

from speechbrain.nnet.schedulers import ReduceLROnPlateau

__all__ = ["ReduceLROnPlateau"]
