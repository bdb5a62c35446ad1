"""SpeechBrain names that upstream's PIQ hparams files use, under
``speechbrain_piq`` (docs/upstream_compatibility.md).
"""
