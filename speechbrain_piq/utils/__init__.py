"""SpeechBrain's ``seed_everything``, importable from here.

Upstream's PIQ hparams files with every ``speechbrain.`` swapped for
``speechbrain_piq.`` name them so (docs/upstream_compatibility.md).
"""

from speechbrain.utils import seed_everything

__all__ = ["seed_everything"]
