"""dataio of speechbrain-piq."""
