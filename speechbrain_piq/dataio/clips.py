"""Turn any soundfile-readable file into a fixed-length, mono, peak-normalised
clip at the model's sample rate.

ESC-50 clips are nominally 5 s, 44.1 kHz mono, but users point the recipe at
re-encoded copies (16 kHz, stereo, 8/24-bit or float WAV, other lengths).
Every classifier and interpreter downstream assumes one shape and a finite
signal, so this is the single place that guarantees both.
"""

import math

import numpy as np
import scipy.signal
import torch
import torchaudio
from speechbrain.dataio import audio_io
from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

# Peaks below this are treated as silence: normalising them would only
# amplify numerical noise (or divide by zero for an all-zero clip).
SILENCE_PEAK = 1e-8


def all_finite(sig):
    """Return True when no sample of a CPU tensor is NaN or infinite.

    NumPy does this check several times faster than ``torch.isfinite`` on
    CPU, and it runs on every clip at preparation time.

    Arguments
    ---------
    sig : torch.Tensor
        A CPU tensor.

    Returns
    -------
    bool
        Whether every element is finite.

    Example
    -------
    >>> all_finite(torch.tensor([0.0, 1.0]))
    True
    >>> all_finite(torch.tensor([1.0, float("nan")]))
    False
    """
    return bool(np.isfinite(sig.numpy()).all())


def fix_length(sig, n_samples):
    """Crop or right-pad with zeros a 1-D signal to exactly ``n_samples``.

    Arguments
    ---------
    sig : torch.Tensor
        Signal of shape ``[time]``.
    n_samples : int
        Length of the returned signal.

    Returns
    -------
    torch.Tensor
        The first ``n_samples`` of ``sig``, zero-padded at the end if short.

    Example
    -------
    >>> fix_length(torch.ones(3), 5)
    tensor([1., 1., 1., 0., 0.])
    >>> fix_length(torch.arange(6.0), 4)
    tensor([0., 1., 2., 3.])
    """
    if sig.shape[0] >= n_samples:
        return sig[:n_samples]
    return torch.nn.functional.pad(sig, (0, n_samples - sig.shape[0]))


def peak_normalize(sig):
    """Scale a signal so its largest absolute sample is 1; silence stays 0.

    Arguments
    ---------
    sig : torch.Tensor
        Signal of any shape.

    Returns
    -------
    torch.Tensor
        ``sig / max(|sig|)``, or ``sig`` unchanged when its peak is below
        ``SILENCE_PEAK`` (so an all-zero clip never produces NaN).

    Example
    -------
    >>> peak_normalize(torch.tensor([0.25, -0.5]))
    tensor([ 0.5000, -1.0000])
    >>> peak_normalize(torch.zeros(2))
    tensor([0., 0.])
    """
    low, high = torch.aminmax(sig)
    peak = torch.maximum(high, -low)
    if peak < SILENCE_PEAK:
        return sig
    return sig / peak


# torchaudio's sinc kernel holds (new / g) x (orig / g) taps for g the
# rates' gcd: 160 x 441 for 44.1 -> 16 kHz, but 16000 x 44101 (2.8 GB)
# for 44101 Hz. Above this many taps, scipy's polyphase filter (a few MB,
# a fraction of a second per clip) does the conversion instead.
MAX_SINC_KERNEL_TAPS = 10**6


class MonoResampler:
    """Averages the channels of a signal and resamples it to one rate.

    The sinc kernel of each source rate is built once. Channels are divided
    before they are summed, and a signal whose samples reach float32's
    range is scaled down before filtering (it is peak-normalised later
    anyway), so a finite input never becomes inf or NaN.

    Arguments
    ---------
    sample_rate : int
        The rate of the returned signals, in Hz.

    Example
    -------
    >>> to_16k = MonoResampler(16000)
    >>> to_16k(torch.ones(2, 44100), 44100).shape
    torch.Size([16000])
    >>> to_16k(torch.ones(1, 44101), 44101).shape
    torch.Size([16000])
    >>> loud = torch.full((2, 441), 3e38)
    >>> bool(torch.isfinite(to_16k(loud, 44100)).all())
    True
    """

    def __init__(self, sample_rate):
        self.sample_rate = int(sample_rate)
        self._resamplers = {}

    def __call__(self, sig, file_rate):
        """Returns ``sig`` (``[channels, time]``, finite) as ``[time]`` at
        ``self.sample_rate``."""
        mono = self._mono_at_rate(sig, file_rate)
        if not all_finite(mono):
            mono = self._mono_at_rate(peak_normalize(sig), file_rate)
        return mono

    def _mono_at_rate(self, sig, file_rate):
        """Average the channels, then resample."""
        # Summing first would overflow for samples near float32's maximum.
        mono = sig[0] if sig.shape[0] == 1 else (sig / sig.shape[0]).sum(0)
        if file_rate == self.sample_rate:
            return mono
        return self._resampler(file_rate)(mono)

    def _resampler(self, file_rate):
        """The cached resampling function from ``file_rate``."""
        if file_rate not in self._resamplers:
            gcd = math.gcd(file_rate, self.sample_rate)
            up, down = self.sample_rate // gcd, file_rate // gcd
            if up * down <= MAX_SINC_KERNEL_TAPS:
                self._resamplers[file_rate] = torchaudio.transforms.Resample(
                    orig_freq=file_rate, new_freq=self.sample_rate
                )
            else:
                self._resamplers[file_rate] = _PolyphaseResampler(up, down)
        return self._resamplers[file_rate]


class _PolyphaseResampler:
    """scipy's polyphase resampling by ``up / down`` on a torch signal.

    Its low-pass filter (scipy's default: Kaiser-windowed, 20 x
    ``max(up, down)`` + 1 taps) is designed once, not on every call. It is
    sharper than torchaudio's, so such rates are filtered slightly
    differently from the usual ones.
    """

    def __init__(self, up, down):
        self.up = up
        self.down = down
        max_rate = max(up, down)
        self.lowpass = scipy.signal.firwin(
            20 * max_rate + 1, 1 / max_rate, window=("kaiser", 5.0)
        ).astype(np.float32)

    def __call__(self, sig):
        resampled = scipy.signal.resample_poly(
            sig.numpy(), self.up, self.down, window=self.lowpass
        )
        return torch.from_numpy(resampled.astype(np.float32, copy=False))


class ClipLoader:
    """Read an audio file as a mono clip of fixed length and sample rate.

    The file is read with ``speechbrain.dataio.audio_io`` (any format
    soundfile reads), non-finite samples are zeroed with a warning, channels
    are averaged, the signal is resampled, cropped or zero-padded to
    ``clip_seconds`` and peak-normalised.

    Arguments
    ---------
    sample_rate : int
        Sample rate of the returned clips, in Hz.
    clip_seconds : float
        Duration of the returned clips, in seconds; they hold
        ``round(clip_seconds * sample_rate)`` samples, at least one.

    Example
    -------
    >>> import soundfile as sf
    >>> path = str(getfixture("tmpdir") / "stereo.wav")
    >>> sf.write(path, 0.1 * torch.randn(44100, 2).numpy(), 44100)
    >>> load_clip = ClipLoader(sample_rate=16000, clip_seconds=2.0)
    >>> clip = load_clip(path)
    >>> clip.shape, clip.dtype, round(clip.abs().max().item(), 4)
    (torch.Size([32000]), torch.float32, 1.0)
    """

    def __init__(self, sample_rate=16000, clip_seconds=5.0):
        if sample_rate <= 0 or clip_seconds <= 0:
            raise ValueError(
                f"ClipLoader needs a positive sample_rate and clip_seconds, "
                f"got sample_rate={sample_rate}, clip_seconds={clip_seconds}"
            )
        self.sample_rate = int(sample_rate)
        # Rounded: 4.02 * 16000 is 64319.99... in floating point.
        self.n_samples = round(clip_seconds * sample_rate)
        if self.n_samples < 1:
            raise ValueError(
                f"ClipLoader: clip_seconds={clip_seconds} at sample_rate="
                f"{sample_rate} gives {self.n_samples} samples; use a "
                f"clip_seconds of at least {1 / sample_rate:.3g}"
            )
        self.to_mono_at_rate = MonoResampler(self.sample_rate)

    def __call__(self, path):
        """Return the prepared clip of ``path`` (float32, ``[n_samples]``)."""
        sig, file_rate = audio_io.load(path, dtype=torch.float32)
        if sig.numel() == 0:
            raise ValueError(
                f"{path} holds no samples; it changed since prepare_esc50 "
                "checked it, re-run the preparation to skip it."
            )
        if not all_finite(sig):
            logger.warning(
                f"{path}: non-finite samples set to 0; the file changed "
                "since prepare_esc50 checked it, re-run the preparation to "
                "skip it."
            )
            sig = torch.nan_to_num(sig, nan=0.0, posinf=0.0, neginf=0.0)
        sig = self.to_mono_at_rate(sig, file_rate)
        return peak_normalize(fix_length(sig, self.n_samples))
