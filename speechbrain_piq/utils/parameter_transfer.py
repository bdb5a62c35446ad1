"""SpeechBrain's ``Pretrainer``, importable from here.

Upstream's PIQ hparams files with every ``speechbrain.`` swapped for
``speechbrain_piq.`` name them so (docs/upstream_compatibility.md).
"""

from speechbrain.utils.parameter_transfer import Pretrainer

__all__ = ["Pretrainer"]
