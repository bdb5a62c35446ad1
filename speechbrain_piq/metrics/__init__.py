"""metrics of speechbrain-piq."""
