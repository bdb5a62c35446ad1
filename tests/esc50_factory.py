"""Writes small ESC-50-shaped folders for tests (never the real data).

The layout is the dataset's own: ``ROOT/audio/{fold}-{src}-{take}-{target}.wav``
at 44.1 kHz and ``ROOT/meta/esc50.csv`` with the original seven columns.
Each class gets a distinct tone so that a classifier can learn something.
"""

import os

import numpy as np
import pandas as pd
import soundfile as sf

ESC50_COLUMNS = [
    "filename",
    "fold",
    "target",
    "category",
    "esc10",
    "src_file",
    "take",
]


def make_esc50_folder(
    root,
    n_classes=3,
    clips_per_class_per_fold=1,
    folds=(1, 2, 3, 4, 5),
    esc10_targets=None,
    sample_rate=44100,
    seconds=5.0,
    seed=0,
):
    """Writes a tiny ESC-50 folder and returns its metadata DataFrame.

    Targets are ``0 .. n_classes - 1`` and class names ``class_{target}``;
    ``esc10_targets`` (default: all) marks the ESC-10 rows.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "audio"), exist_ok=True)
    os.makedirs(os.path.join(root, "meta"), exist_ok=True)
    if esc10_targets is None:
        esc10_targets = range(n_classes)
    esc10_targets = set(esc10_targets)
    n_samples = int(seconds * sample_rate)
    time = np.arange(n_samples) / sample_rate
    rows = []
    src = 100000
    for fold in folds:
        for target in range(n_classes):
            for _ in range(clips_per_class_per_fold):
                src += 1
                freq = 300.0 * (target + 1) * (1 + 0.02 * rng.standard_normal())
                wav = 0.3 * np.sin(2 * np.pi * freq * time)
                wav += 0.01 * rng.standard_normal(n_samples)
                filename = f"{fold}-{src}-A-{target}.wav"
                sf.write(
                    os.path.join(root, "audio", filename),
                    wav.astype(np.float32),
                    sample_rate,
                    subtype="PCM_16",
                )
                rows.append(
                    [
                        filename,
                        fold,
                        target,
                        f"class_{target}",
                        target in esc10_targets,
                        str(src),
                        "A",
                    ]
                )
    meta = pd.DataFrame(rows, columns=ESC50_COLUMNS)
    meta.to_csv(os.path.join(root, "meta", "esc50.csv"), index=False)
    return meta
