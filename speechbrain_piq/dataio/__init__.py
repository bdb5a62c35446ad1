"""dataio of speechbrain-piq: ESC-50 / ESC-10 as SpeechBrain datasets.

- ``esc50_prepare.prepare_esc50``: CSV manifests per split (run on main).
- ``datasets.dataio_prep``: ``DynamicItemDataset``s + ``CategoricalEncoder``.
- ``clips.ClipLoader``: any audio file -> mono, resampled, fixed-length,
  peak-normalised clip; ``clip_cache.ClipCache`` keeps those clips on disk.
- ``label_encoders``: the run's ``label_encoder.txt``, in upstream's class
  order or the classifier's own.
- ``esc50_download``: find or download the dataset; ``esc50_metadata``:
  read ``meta/esc50.csv``, choose the subset, fix the labels.
"""
