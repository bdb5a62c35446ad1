"""SpeechBrain's ``Filterbank``, ``ISTFT`` and ``STFT``, importable from here.

Upstream's PIQ hparams files with every ``speechbrain.`` swapped for
``speechbrain_piq.`` name them so (docs/upstream_compatibility.md).
"""

from speechbrain.processing.features import ISTFT, STFT, Filterbank

__all__ = ["Filterbank", "ISTFT", "STFT"]
