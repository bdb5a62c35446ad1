"""Synthesisers for the demo's sound events, each with its true band.

Every event class is one a person tells apart by ear and on a
spectrogram: a steady tone, a sweep, a train of clicks, a buzzy harmonic
stack, a band of noise, a warbling tone. Each synthesiser draws its own
random frequency parameters, returns a unit-RMS waveform and the band
``[low_hz, high_hz]`` that holds its energy. The waveform starts and ends
with the event's envelope, so its first and last samples are the event's
onset and offset.
"""

import dataclasses

import numpy as np

# The models see 16 kHz audio: staying this far below 8 kHz keeps every
# event's box (with the 100 Hz margin ``clips`` adds) clear of the
# resampler's anti-aliasing roll-off.
MAX_EVENT_HZ = 7400.0

# Raised-cosine fades avoid the broadband click of a hard onset, which
# would spill energy outside the event's band.
FADE_SECONDS = 0.01

# Length of one click: a Hann-windowed burst of L seconds has a main lobe
# of +-2 / L Hz around its carrier.
CLICK_SECONDS = 0.003


@dataclasses.dataclass(frozen=True)
class SoundEvent:
    """A synthesised sound event and the band that holds its energy.

    Arguments
    ---------
    wav : numpy.ndarray
        The event alone, ``[samples]``, unit RMS; its first and last
        samples are the onset and offset of its envelope.
    low_hz : float
        Lower edge of the event's band.
    high_hz : float
        Upper edge of the event's band.

    Example
    -------
    >>> event = SoundEvent(np.ones(4), 900.0, 1100.0)
    >>> event.high_hz - event.low_hz
    200.0
    """

    wav: np.ndarray
    low_hz: float
    high_hz: float


def tone_burst(rng, n_samples, sample_rate):
    """A steady pure tone between 250 Hz and 7 kHz.

    Arguments
    ---------
    rng : numpy.random.Generator
        Source of the random frequency and phase.
    n_samples : int
        Length of the event in samples.
    sample_rate : int
        Sample rate of the waveform.

    Returns
    -------
    SoundEvent
        The tone; its band is its single frequency.

    Example
    -------
    >>> event = tone_burst(np.random.default_rng(0), 8000, 16000)
    >>> event.wav.shape, round(float(np.sqrt(np.mean(event.wav**2))), 3)
    ((8000,), 1.0)
    """
    freq = _log_uniform(rng, 250.0, 7000.0)
    time = np.arange(n_samples) / sample_rate
    wav = np.sin(2 * np.pi * freq * time + rng.uniform(0, 2 * np.pi))
    return _finish(_fade(wav, sample_rate), freq, freq)


def chirp(rng, n_samples, sample_rate):
    """An exponential sweep over 0.8 to 2 octaves, up or down.

    Arguments
    ---------
    rng : numpy.random.Generator
        Source of the random sweep range and direction.
    n_samples : int
        Length of the event in samples.
    sample_rate : int
        Sample rate of the waveform.

    Returns
    -------
    SoundEvent
        The sweep; its band is the swept range.

    Example
    -------
    >>> event = chirp(np.random.default_rng(0), 8000, 16000)
    >>> event.high_hz / event.low_hz > 1.5
    True
    """
    octaves = rng.uniform(0.8, 2.0)
    low = _log_uniform(rng, 250.0, MAX_EVENT_HZ / 2**octaves)
    high = low * 2**octaves
    start, end = (low, high) if rng.random() < 0.5 else (high, low)
    duration = n_samples / sample_rate
    time = np.arange(n_samples) / sample_rate
    # Integral of the instantaneous frequency start * (end/start)^(t/T).
    rate = np.log(end / start) / duration
    phase = 2 * np.pi * start * np.expm1(rate * time) / rate
    return _finish(_fade(np.sin(phase), sample_rate), low, high)


def clicks(rng, n_samples, sample_rate):
    """A train of 3 ms clicks at about 8 to 16 per second, around 1.5-6 kHz.

    The first click starts the event and the last one ends it; the clicks
    between are spread evenly with a little jitter.

    Arguments
    ---------
    rng : numpy.random.Generator
        Source of the random carrier, rate and jitter.
    n_samples : int
        Length of the event in samples.
    sample_rate : int
        Sample rate of the waveform.

    Returns
    -------
    SoundEvent
        The click train; its band is the main lobe of a click's spectrum.

    Example
    -------
    >>> event = clicks(np.random.default_rng(0), 16000, 16000)
    >>> event.wav.shape, event.high_hz - event.low_hz > 1000
    ((16000,), True)
    """
    carrier = _log_uniform(rng, 1500.0, 6000.0)
    click_len = int(round(CLICK_SECONDS * sample_rate))
    click = np.hanning(click_len) * np.cos(
        2 * np.pi * carrier * np.arange(click_len) / sample_rate
    )
    last_start = n_samples - click_len
    n_gaps = max(int(last_start / (sample_rate / rng.uniform(8.0, 16.0))), 1)
    starts = np.linspace(0, last_start, n_gaps + 1)
    # Jitter the clicks between the first and the last, which bound it.
    period = last_start / n_gaps
    starts[1:-1] += rng.uniform(-0.1, 0.1, n_gaps - 1) * period
    wav = np.zeros(n_samples)
    for start in starts.round().astype(int):
        wav[start : start + click_len] += click
    half_width = 2.0 / CLICK_SECONDS
    return _finish(wav, carrier - half_width, carrier + half_width)


def harmonic_stack(rng, n_samples, sample_rate):
    """A buzzy tone: a 120-500 Hz fundamental with 4 to 8 harmonics.

    Arguments
    ---------
    rng : numpy.random.Generator
        Source of the random fundamental, harmonic count and phases.
    n_samples : int
        Length of the event in samples.
    sample_rate : int
        Sample rate of the waveform.

    Returns
    -------
    SoundEvent
        The stack; its band spans the fundamental to the top harmonic.

    Example
    -------
    >>> event = harmonic_stack(np.random.default_rng(0), 8000, 16000)
    >>> event.low_hz < 500 < event.high_hz
    True
    """
    fundamental = _log_uniform(rng, 120.0, 500.0)
    n_harmonics = min(int(rng.integers(4, 9)), int(MAX_EVENT_HZ // fundamental))
    time = np.arange(n_samples) / sample_rate
    harmonics = np.arange(1, n_harmonics + 1)[:, None]
    phases = rng.uniform(0, 2 * np.pi, (n_harmonics, 1))
    # A 1/k spectral slope, as in voiced sounds and buzzers.
    wav = np.sum(
        np.sin(2 * np.pi * fundamental * harmonics * time + phases) / harmonics,
        axis=0,
    )
    return _finish(
        _fade(wav, sample_rate), fundamental, fundamental * n_harmonics
    )


def band_noise(rng, n_samples, sample_rate):
    """Gaussian noise in a 300-1200 Hz wide band centred at 0.4-6.5 kHz.

    Arguments
    ---------
    rng : numpy.random.Generator
        Source of the random band and the noise.
    n_samples : int
        Length of the event in samples.
    sample_rate : int
        Sample rate of the waveform.

    Returns
    -------
    SoundEvent
        The noise; its band is the pass band.

    Example
    -------
    >>> event = band_noise(np.random.default_rng(0), 8000, 16000)
    >>> 300 <= event.high_hz - event.low_hz <= 1200
    True
    """
    centre = _log_uniform(rng, 400.0, 6500.0)
    width = rng.uniform(300.0, 1200.0)
    low = max(centre - width / 2, 50.0)
    high = min(centre + width / 2, MAX_EVENT_HZ)
    spectrum = np.fft.rfft(rng.standard_normal(n_samples))
    freqs = np.fft.rfftfreq(n_samples, 1.0 / sample_rate)
    spectrum[(freqs < low) | (freqs > high)] = 0.0
    wav = np.fft.irfft(spectrum, n_samples)
    return _finish(_fade(wav, sample_rate), low, high)


def warble(rng, n_samples, sample_rate):
    """A tone whose frequency wobbles by 100-400 Hz, 5 to 12 times a second.

    Arguments
    ---------
    rng : numpy.random.Generator
        Source of the random carrier, depth, rate and phases.
    n_samples : int
        Length of the event in samples.
    sample_rate : int
        Sample rate of the waveform.

    Returns
    -------
    SoundEvent
        The warble; its band is Carson's bandwidth around the carrier.

    Example
    -------
    >>> event = warble(np.random.default_rng(0), 8000, 16000)
    >>> event.high_hz - event.low_hz > 200
    True
    """
    depth = rng.uniform(100.0, 400.0)
    rate = rng.uniform(5.0, 12.0)
    carrier = _log_uniform(rng, 300.0 + depth, MAX_EVENT_HZ - depth - rate)
    time = np.arange(n_samples) / sample_rate
    # Integral of carrier + depth * sin(2 pi rate t + lfo_phase).
    lfo_phase = rng.uniform(0, 2 * np.pi)
    phase = (
        2 * np.pi * carrier * time
        - depth / rate * np.cos(2 * np.pi * rate * time + lfo_phase)
        + rng.uniform(0, 2 * np.pi)
    )
    # Carson's rule: the sidebands of sinusoidal FM span depth + rate.
    spread = depth + rate
    return _finish(
        _fade(np.sin(phase), sample_rate), carrier - spread, carrier + spread
    )


# The order fixes the class indices: ``n_classes=k`` uses the first k.
EVENT_SYNTHESISERS = {
    "tone_burst": tone_burst,
    "chirp": chirp,
    "clicks": clicks,
    "harmonic_stack": harmonic_stack,
    "band_noise": band_noise,
    "warble": warble,
}
DEMO_CATEGORIES = tuple(EVENT_SYNTHESISERS)


def _log_uniform(rng, low, high):
    """A frequency drawn evenly on a log axis, as pitch is heard."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _fade(wav, sample_rate):
    """Raised-cosine fade in and out, ``FADE_SECONDS`` long (in place)."""
    n_fade = min(int(round(FADE_SECONDS * sample_rate)), len(wav) // 2)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n_fade) / n_fade)
    wav[:n_fade] *= ramp
    wav[len(wav) - n_fade :] *= ramp[::-1]
    return wav


def _finish(wav, low_hz, high_hz):
    """Scales to unit RMS and packs the event with its band."""
    return SoundEvent(wav / np.sqrt(np.mean(wav**2)), low_hz, high_hz)
