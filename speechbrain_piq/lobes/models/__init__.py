"""Models, mirroring ``speechbrain.lobes.models``."""
