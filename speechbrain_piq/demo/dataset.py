"""Writes the demo dataset: ESC-50's layout, with ground-truth regions.

Each 5 s clip holds one target event over white noise and, in a fraction
of the clips, a weaker distractor event of another class (see ``clips``).
The folder looks like ESC-50 (``audio/{fold}-{src_file}-{take}-{target}.wav``
at 44.1 kHz and ``meta/esc50.csv``), so the ESC-50 recipes run on it
unchanged, and the metadata also records where the target and the
distractor lie in time and frequency, for the localisation metric.
"""

import logging
import math
import os

import numpy as np
import pandas as pd
import soundfile as sf

from speechbrain_piq.dataio.datasets import REGION_COLUMNS
from speechbrain_piq.dataio.esc50_metadata import ESC50_COLUMNS, ESC50_FOLDS
from speechbrain_piq.demo.clips import check_sample_rate, make_demo_clip
from speechbrain_piq.demo.events import DEMO_CATEGORIES

logger = logging.getLogger(__name__)

# The ESC-50 columns, then the boxes the data pipeline turns into the
# ``event_region`` / ``distractor_region`` items, then the distractor's class.
EVENT_REGION_COLUMNS = list(REGION_COLUMNS["event_region"])
DISTRACTOR_REGION_COLUMNS = list(REGION_COLUMNS["distractor_region"])
DEMO_COLUMNS = (
    list(ESC50_COLUMNS)
    + EVENT_REGION_COLUMNS
    + DISTRACTOR_REGION_COLUMNS
    + ["distractor_category"]
)

# First ``src_file`` id: clips are numbered from here, like Freesound ids.
FIRST_SRC_FILE = 900001


def make_demo_dataset(
    dest,
    n_classes=5,
    clips_per_class_per_fold=8,
    folds=(1, 2, 3, 4, 5),
    distractor_fraction=0.3,
    sample_rate=44100,
    seed=0,
):
    """Writes an ESC-50-shaped demo dataset with ground-truth regions.

    The folder gets ``audio/{fold}-{src_file}-A-{target}.wav`` (5 s, mono,
    16-bit PCM) and ``meta/esc50.csv`` with ESC-50's seven columns
    (``esc10`` True everywhere, so ``subset: esc10`` works too), then
    ``event_onset, event_offset, event_low_hz, event_high_hz`` (seconds,
    Hz), the same four for the distractor (empty when none) and
    ``distractor_category`` (empty when none). Exactly
    ``round(distractor_fraction * n_clips)`` clips have a distractor.
    The same arguments give the same bytes: every clip draws from its own
    seed, spawned from ``seed``.

    Arguments
    ---------
    dest : str
        Folder to write (created if needed). A folder whose
        ``meta/esc50.csv`` has no ``event_onset`` column (the real
        ESC-50) is refused rather than overwritten.
    n_classes : int
        Number of classes, 2 to ``len(DEMO_CATEGORIES)``; the first
        ``n_classes`` of ``DEMO_CATEGORIES`` are used.
    clips_per_class_per_fold : int
        Clips of each class in each fold.
    folds : sequence of int
        Distinct fold numbers to write, from ESC-50's 1 to 5.
    distractor_fraction : float
        Fraction of clips, in [0, 1], that get a distractor.
    sample_rate : int
        Sample rate of the files (ESC-50's is 44100; at least 16000).
    seed : int
        Seed of the whole dataset.

    Returns
    -------
    pandas.DataFrame
        The metadata, as written to ``meta/esc50.csv``.

    Example
    -------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as dest:
    ...     meta = make_demo_dataset(dest, n_classes=2,
    ...                              clips_per_class_per_fold=1, folds=(1, 2))
    ...     print(sorted(os.listdir(os.path.join(dest, "audio"))))
    ['1-900001-A-0.wav', '1-900002-A-1.wav', '2-900003-A-0.wav', '2-900004-A-1.wav']
    >>> meta.category.tolist()
    ['tone_burst', 'chirp', 'tone_burst', 'chirp']
    """
    _check_arguments(
        n_classes, clips_per_class_per_fold, folds, distractor_fraction
    )
    check_sample_rate(sample_rate)
    _refuse_real_esc50(dest)
    os.makedirs(os.path.join(dest, "audio"), exist_ok=True)
    os.makedirs(os.path.join(dest, "meta"), exist_ok=True)

    plan = [
        (fold, target)
        for fold in folds
        for target in range(n_classes)
        for _ in range(clips_per_class_per_fold)
    ]
    seeds = np.random.SeedSequence(seed).spawn(len(plan) + 1)
    n_distracted = round(distractor_fraction * len(plan))
    has_distractor = (
        np.random.default_rng(seeds[-1]).permutation(len(plan)) < n_distracted
    )
    categories = DEMO_CATEGORIES[:n_classes]

    rows = []
    for index, (fold, target) in enumerate(plan):
        rng = np.random.default_rng(seeds[index])
        distractor_category = None
        if has_distractor[index]:
            others = [c for c in categories if c != categories[target]]
            distractor_category = others[rng.integers(len(others))]
        clip = make_demo_clip(
            rng, categories[target], distractor_category, sample_rate
        )
        src_file = str(FIRST_SRC_FILE + index)
        filename = f"{fold}-{src_file}-A-{target}.wav"
        sf.write(
            os.path.join(dest, "audio", filename),
            clip.wav,
            sample_rate,
            subtype="PCM_16",
        )
        rows.append(
            [filename, fold, target, categories[target], True, src_file, "A"]
            + list(clip.event_region)
            + list(clip.distractor_region or [math.nan] * 4)
            + [distractor_category or ""]
        )

    meta = pd.DataFrame(rows, columns=DEMO_COLUMNS)
    meta.to_csv(os.path.join(dest, "meta", "esc50.csv"), index=False)
    logger.info(
        "Wrote %d demo clips (%d classes, %d with a distractor) to %s",
        len(meta),
        n_classes,
        n_distracted,
        dest,
    )
    return meta


def _check_arguments(
    n_classes, clips_per_class_per_fold, folds, distractor_fraction
):
    """Raises a ValueError naming the bad argument and its valid range."""
    if not 2 <= n_classes <= len(DEMO_CATEGORIES):
        raise ValueError(
            f"n_classes={n_classes}: the demo has {len(DEMO_CATEGORIES)} "
            f"event classes {DEMO_CATEGORIES}; choose 2 to "
            f"{len(DEMO_CATEGORIES)}."
        )
    if clips_per_class_per_fold < 1:
        raise ValueError(
            f"clips_per_class_per_fold={clips_per_class_per_fold}: "
            "need at least 1 clip of each class in each fold."
        )
    if len(folds) == 0 or len(set(folds)) != len(folds):
        raise ValueError(
            f"folds={folds}: give distinct fold numbers, e.g. (1, 2, 3, 4, 5)."
        )
    outside = [fold for fold in folds if fold not in ESC50_FOLDS]
    if outside:
        raise ValueError(
            f"folds={folds}: fold(s) {outside} are not ESC-50 folds; the "
            f"recipes read folds {ESC50_FOLDS} only, so choose among them."
        )
    if not 0.0 <= distractor_fraction <= 1.0:
        raise ValueError(
            f"distractor_fraction={distractor_fraction} must lie in [0, 1]."
        )


def _refuse_real_esc50(dest):
    """Refuses to overwrite a metadata file the demo did not write."""
    csv = os.path.join(dest, "meta", "esc50.csv")
    if not os.path.exists(csv):
        return
    columns = pd.read_csv(csv, nrows=0).columns
    if "event_onset" not in columns:
        raise FileExistsError(
            f"{csv} exists and has no 'event_onset' column: it looks like "
            "the real ESC-50 (or another dataset), which the demo would "
            "overwrite. Choose an empty folder for the demo dataset."
        )
