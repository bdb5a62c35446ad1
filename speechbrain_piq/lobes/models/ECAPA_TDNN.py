"""SpeechBrain's ``Classifier``, importable from here.

Upstream's PIQ hparams files with every ``speechbrain.`` swapped for
``speechbrain_piq.`` name them so (docs/upstream_compatibility.md).
"""

from speechbrain.lobes.models.ECAPA_TDNN import Classifier

__all__ = ["Classifier"]
