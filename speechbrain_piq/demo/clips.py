"""Composes one demo clip: a target event, maybe a distractor, over noise.

The target lands at a random time, at a random SNR; a distractor of
another class, weaker, lands where its box cannot overlap the target's.
Each event's ground-truth box is its envelope and band, widened to hold
its energy as the models' spectrogram shows it.
"""

import dataclasses
import math

import numpy as np

from speechbrain_piq.demo.events import EVENT_SYNTHESISERS

CLIP_SECONDS = 5.0

# Events lie within this span: the PIQ decoder's masks stop at 4.84 s
# (417 frames), and an event cut by the clip's edges would not fill its box.
EVENT_SPAN_SECONDS = (0.2, 4.7)
# Targets last long enough to dominate a clip-level (time-averaged)
# representation, as upstream's conv2d classifier's is; distractors are
# shorter, so that one always fits beside the target (see _free_windows).
EVENT_SECONDS = (1.0, 2.0)
DISTRACTOR_SECONDS = (0.4, 1.0)

# The models' STFT (16 kHz, 23.2 ms Hamming window) smears each event
# over half a window in time and over the window's +-86 Hz main lobe in
# frequency; boxes grow by these margins so that they hold its energy.
TIME_MARGIN_SECONDS = 0.012
FREQ_MARGIN_HZ = 100.0

# A distractor sharing the target's band keeps this far from it in time,
# so the two boxes never overlap and "mass on the distractor" is clear-cut.
DISTRACTOR_GAP_SECONDS = 0.1

# Event power over the background's power below 8 kHz (what the 16 kHz
# models hear): every event is plain to hear and to see, and the low end
# still leaves the noise around it visible.
SNR_DB_RANGE = (0.0, 12.0)
# The distractor is this much weaker than the target, so that the label
# (the target's class) is the clip's dominant event, not a coin flip.
DISTRACTOR_ATTENUATION_DB = (3.0, 9.0)
BACKGROUND_RMS = 0.05


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

    The target lasts ``EVENT_SECONDS`` and lies at a random time within
    ``EVENT_SPAN_SECONDS``; the distractor lasts ``DISTRACTOR_SECONDS`` and
    either shares no frequency with the target or keeps
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
    check_sample_rate(sample_rate)
    n_samples = int(CLIP_SECONDS * sample_rate)
    wav = BACKGROUND_RMS * rng.standard_normal(n_samples)
    # White noise spreads its power evenly up to Nyquist.
    heard_power = BACKGROUND_RMS**2 * 8000.0 / (sample_rate / 2)

    event = _synthesise(rng, category, EVENT_SECONDS, sample_rate)
    onset = _draw_onset(rng, event, sample_rate, [EVENT_SPAN_SECONDS])
    snr_db = rng.uniform(*SNR_DB_RANGE)
    _add(wav, event, onset, snr_db, heard_power)
    event_region = region_of(event, onset, sample_rate)

    distractor_region = None
    if distractor_category is not None:
        distractor = _synthesise(
            rng, distractor_category, DISTRACTOR_SECONDS, sample_rate
        )
        windows = _free_windows(event_region, distractor)
        d_onset = _draw_onset(rng, distractor, sample_rate, windows)
        d_snr_db = snr_db - rng.uniform(*DISTRACTOR_ATTENUATION_DB)
        _add(wav, distractor, d_onset, d_snr_db, heard_power)
        distractor_region = region_of(distractor, d_onset, sample_rate)

    # Scaling the whole mixture keeps every SNR while avoiding clipping
    # in the 16-bit file.
    peak = np.max(np.abs(wav))
    if peak > 0.99:
        wav *= 0.99 / peak
    return DemoClip(wav.astype(np.float32), event_region, distractor_region)


def _synthesise(rng, category, seconds, sample_rate):
    """An event of ``category`` lasting a random ``seconds = (low, high)``."""
    n_samples = int(rng.uniform(*seconds) * sample_rate)
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

    Around a target of at most 2 s in a 4.5 s span, the two windows
    beside it hold 2.28 s together, so one of them has room for a
    distractor of at most 1 s.
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


def region_of(event, onset, sample_rate):
    """The ground-truth box of ``event`` placed at sample ``onset``.

    The box is the event's envelope widened by ``TIME_MARGIN_SECONDS``
    and its band widened by ``FREQ_MARGIN_HZ``, rounded outwards to 0.1 ms
    and 0.1 Hz, so that it holds the event's energy as the models'
    spectrogram shows it.

    Arguments
    ---------
    event : SoundEvent
        The event (see ``speechbrain_piq.demo.events``).
    onset : int
        Sample at which the event starts in the clip.
    sample_rate : int
        Sample rate of the clip.

    Returns
    -------
    tuple
        ``(onset_s, offset_s, low_hz, high_hz)``.

    Example
    -------
    >>> from speechbrain_piq.demo.events import SoundEvent
    >>> region_of(SoundEvent(np.ones(16000), 900.0, 1100.0), 16000, 16000)
    (0.988, 2.012, 800.0, 1200.0)
    """
    onset_s = onset / sample_rate - TIME_MARGIN_SECONDS
    offset_s = (onset + len(event.wav)) / sample_rate + TIME_MARGIN_SECONDS
    return (
        math.floor(onset_s * 1e4) / 1e4,
        math.ceil(offset_s * 1e4) / 1e4,
        math.floor(max(event.low_hz - FREQ_MARGIN_HZ, 0.0) * 10) / 10,
        math.ceil((event.high_hz + FREQ_MARGIN_HZ) * 10) / 10,
    )


def check_sample_rate(sample_rate):
    """Raises a ValueError if ``sample_rate`` cannot carry the events.

    Arguments
    ---------
    sample_rate : int
        Sample rate of the clips.

    Example
    -------
    >>> check_sample_rate(44100)
    >>> check_sample_rate(8000)
    Traceback (most recent call last):
    ...
    ValueError: sample_rate=8000 is too low: ...
    """
    if sample_rate < 16000:
        raise ValueError(
            f"sample_rate={sample_rate} is too low: the demo's events reach "
            "7.5 kHz and the models listen at 16 kHz; use 16000 or more "
            "(ESC-50 uses 44100)."
        )
