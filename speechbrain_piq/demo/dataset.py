"""Writes the demo dataset: ESC-50's layout, with ground-truth regions.

Each 5 s clip holds one target event (see ``events``) over white noise
and, in a fraction of the clips, a distractor event of another class.
The folder looks like ESC-50 (``audio/{fold}-{src_file}-{take}-{target}.wav``
at 44.1 kHz and ``meta/esc50.csv``), so the ESC-50 recipes run on it
unchanged, and the metadata also records where the target and the
distractor lie in time and frequency, for the localisation metric.
"""

import dataclasses
import logging
import math
import os

import numpy as np
import pandas as pd
import soundfile as sf

from speechbrain_piq.demo.events import DEMO_CATEGORIES, EVENT_SYNTHESISERS

logger = logging.getLogger(__name__)

ESC50_COLUMNS = [
    "filename",
    "fold",
    "target",
    "category",
    "esc10",
    "src_file",
    "take",
]
EVENT_REGION_COLUMNS = [
    "event_onset",
    "event_offset",
    "event_low_hz",
    "event_high_hz",
]
DISTRACTOR_REGION_COLUMNS = [
    "distractor_onset",
    "distractor_offset",
    "distractor_low_hz",
    "distractor_high_hz",
]
DEMO_COLUMNS = (
    ESC50_COLUMNS
    + EVENT_REGION_COLUMNS
    + DISTRACTOR_REGION_COLUMNS
    + ["distractor_category"]
)

CLIP_SECONDS = 5.0

# Events lie within this span: the PIQ decoder's masks stop at 4.84 s
# (417 frames), and an event cut by the clip's edges would not fill its box.
EVENT_SPAN_SECONDS = (0.2, 4.7)
EVENT_SECONDS = (0.4, 1.0)

# The models' STFT (16 kHz, 23.2 ms Hamming window) smears each event
# over half a window in time and over the window's +-86 Hz main lobe in
# frequency; boxes grow by these margins so that they hold its energy.
TIME_MARGIN_SECONDS = 0.012
FREQ_MARGIN_HZ = 100.0

# A distractor sharing the target's band keeps this far from it in time,
# so the two boxes never overlap and "mass on the distractor" is clear-cut.
DISTRACTOR_GAP_SECONDS = 0.1

# Event power over the background's power below 8 kHz (what the 16 kHz
# models hear). The low end hides weak events in the noise, so the task
# is learnable but not trivial.
SNR_DB_RANGE = (-12.0, 3.0)
# The distractor is this much weaker than the target, so that the label
# (the target's class) is the clip's dominant event, not a coin flip.
DISTRACTOR_ATTENUATION_DB = (3.0, 9.0)
BACKGROUND_RMS = 0.05

# First ``src_file`` id: clips are numbered from here, like Freesound ids.
FIRST_SRC_FILE = 900001


@dataclasses.dataclass(frozen=True)
class DemoClip:
    """One demo clip and the ground-truth boxes of its events.

    Regions are ``(onset_s, offset_s, low_hz, high_hz)``: the event's
    envelope and band, widened by ``TIME_MARGIN_SECONDS`` and
    ``FREQ_MARGIN_HZ`` and rounded outwards to 0.1 ms and 0.1 Hz.

    Arguments
    ---------
    wav : numpy.ndarray
        The mixture, ``[samples]``, float32 within [-1, 1].
    event_region : tuple
        The target event's box.
    distractor_region : tuple or None
        The distractor's box, None when the clip has no distractor.

    Example
    -------
    >>> clip = DemoClip(np.zeros(4, "float32"), (1.0, 2.0, 900.0, 1100.0), None)
    >>> clip.distractor_region is None
    True
    """

    wav: np.ndarray
    event_region: tuple
    distractor_region: tuple = None


def make_demo_clip(rng, category, distractor_category=None, sample_rate=44100):
    """Synthesises one 5 s clip: a target event, maybe a distractor, noise.

    The target lies at a random time within ``EVENT_SPAN_SECONDS``; the
    distractor either shares no frequency with the target or keeps
    ``DISTRACTOR_GAP_SECONDS`` away from it in time, so their boxes never
    overlap. The target's SNR is drawn from ``SNR_DB_RANGE``, the
    distractor's ``DISTRACTOR_ATTENUATION_DB`` below it.

    Arguments
    ---------
    rng : numpy.random.Generator
        The clip's source of randomness (the clip is a function of it).
    category : str
        Class of the target event, one of ``DEMO_CATEGORIES``.
    distractor_category : str, optional
        Class of the distractor; None for a clip without one.
    sample_rate : int
        Sample rate of the clip (at least 16000).

    Returns
    -------
    DemoClip
        The mixture and the ground-truth regions.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> clip = make_demo_clip(rng, "chirp", "clicks", sample_rate=16000)
    >>> clip.wav.shape, len(clip.event_region), len(clip.distractor_region)
    ((80000,), 4, 4)
    """
    n_samples = int(CLIP_SECONDS * sample_rate)
    wav = BACKGROUND_RMS * rng.standard_normal(n_samples)
    # White noise spreads its power evenly up to Nyquist.
    heard_power = BACKGROUND_RMS**2 * min(8000.0 / (sample_rate / 2), 1.0)

    event = _synthesise(rng, category, sample_rate)
    onset = _draw_onset(rng, event, sample_rate, [EVENT_SPAN_SECONDS])
    snr_db = rng.uniform(*SNR_DB_RANGE)
    _add(wav, event, onset, snr_db, heard_power)
    event_region = _region(event, onset, sample_rate)

    distractor_region = None
    if distractor_category is not None:
        distractor = _synthesise(rng, distractor_category, sample_rate)
        windows = _free_windows(event_region, distractor)
        d_onset = _draw_onset(rng, distractor, sample_rate, windows)
        d_snr_db = snr_db - rng.uniform(*DISTRACTOR_ATTENUATION_DB)
        _add(wav, distractor, d_onset, d_snr_db, heard_power)
        distractor_region = _region(distractor, d_onset, sample_rate)

    # Scaling the whole mixture keeps every SNR while avoiding clipping
    # in the 16-bit file.
    peak = np.max(np.abs(wav))
    if peak > 0.99:
        wav *= 0.99 / peak
    return DemoClip(wav.astype(np.float32), event_region, distractor_region)


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
        Fold numbers to write (ESC-50 has 1 to 5).
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
    if sample_rate < 16000:
        raise ValueError(
            f"sample_rate={sample_rate} is too low: the demo's events reach "
            "7.5 kHz and the models listen at 16 kHz; use 16000 or more "
            "(ESC-50 uses 44100)."
        )
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


def _synthesise(rng, category, sample_rate):
    """An event of ``category`` lasting a random ``EVENT_SECONDS``."""
    n_samples = int(rng.uniform(*EVENT_SECONDS) * sample_rate)
    return EVENT_SYNTHESISERS[category](rng, n_samples, sample_rate)


def _draw_onset(rng, event, sample_rate, windows):
    """An onset (in samples) keeping ``event`` inside one of ``windows``.

    Onsets are drawn evenly over all the ``(start_s, end_s)`` windows
    together, so a longer window is chosen more often.
    """
    duration = len(event.wav) / sample_rate
    room = [max(end - start - duration, 0.0) for start, end in windows]
    room_ends = np.cumsum(room)
    draw = rng.uniform(0.0, room_ends[-1])
    chosen = min(int(np.searchsorted(room_ends, draw)), len(room) - 1)
    into_window = draw - (room_ends[chosen] - room[chosen])
    return int(round((windows[chosen][0] + into_window) * sample_rate))


def _free_windows(event_region, distractor):
    """Where ``distractor`` fits without its box overlapping the target's.

    With events of at most 1 s in a 4.5 s span, one of the two windows
    beside the target always has room for the distractor.
    """
    onset, offset, low, high = event_region
    span_start, span_end = EVENT_SPAN_SECONDS
    if distractor.high_hz + FREQ_MARGIN_HZ < low:
        return [(span_start, span_end)]
    if distractor.low_hz - FREQ_MARGIN_HZ > high:
        return [(span_start, span_end)]
    # Both windows keep the distractor's box (margins included) clear.
    gap = DISTRACTOR_GAP_SECONDS + TIME_MARGIN_SECONDS
    return [(span_start, onset - gap), (offset + gap, span_end)]


def _add(wav, event, onset, snr_db, heard_power):
    """Adds ``event`` at sample ``onset``, ``snr_db`` over ``heard_power``."""
    gain = np.sqrt(heard_power * 10 ** (snr_db / 10))
    wav[onset : onset + len(event.wav)] += gain * event.wav


def _region(event, onset, sample_rate):
    """The event's box with its margins, rounded outwards (0.1 ms, 0.1 Hz)."""
    onset_s = onset / sample_rate - TIME_MARGIN_SECONDS
    offset_s = (onset + len(event.wav)) / sample_rate + TIME_MARGIN_SECONDS
    return (
        math.floor(onset_s * 1e4) / 1e4,
        math.ceil(offset_s * 1e4) / 1e4,
        math.floor(max(event.low_hz - FREQ_MARGIN_HZ, 0.0) * 10) / 10,
        math.ceil((event.high_hz + FREQ_MARGIN_HZ) * 10) / 10,
    )


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
