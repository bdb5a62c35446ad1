"""Neural building blocks, mirroring ``speechbrain.lobes``."""
