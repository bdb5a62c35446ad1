"""Clips longer than the classifier's training clips, in bounded memory.

The classifier and PSI were trained on clips of ``clip_seconds``; their
memory grows with the clip, so a long recording is interpreted in
overlapping windows of that length (:func:`window_starts`), a few at a
time, and the windows' masks are blended into one mask over the whole
recording (:class:`MaskBlender`): each window's mask is weighted by a taper
that falls towards its edges, where the window's STFT saw zero padding
instead of the neighbouring audio, and the weighted masks are summed and
divided by the summed weights (overlap-add in the spectrogram domain).
The whole recording's spectrogram and interpretation waveform are then
computed a chunk of frames at a time (:func:`resynthesize_in_chunks`), so
only the full-length outputs grow with the recording.
"""

import math

import torch

from speechbrain_piq.interpretation import (
    masked_spectrograms,
    spectrogram_to_waveform,
)

# Frames of the spectrogram resynthesised at a time (24 s at the recipes'
# 11.6 ms hop): a few hundred MB at most.
CHUNK_FRAMES = 2048


def window_starts(n_samples, window, frame_hop):
    """First samples of the windows that cover a clip.

    Windows hold ``window`` samples and overlap by about half; every start
    is a multiple of ``frame_hop`` (the STFT hop, in samples), so a
    window's STFT frames are frames of the whole clip's STFT. The last
    window ends within ``frame_hop`` samples of the clip's end.

    Arguments
    ---------
    n_samples : int
        Length of the clip.
    window : int
        Length of a window (the classifier's training clips), in samples.
    frame_hop : int
        STFT hop, in samples.

    Returns
    -------
    list of int
        ``[0]`` for a clip no longer than a window; else about
        ``2 * n_samples / window`` starts (the stride is half a window,
        rounded down to whole frames).

    Example
    -------
    >>> window_starts(16000, 16000, 186)
    [0]
    >>> window_starts(40000, 16000, 186)
    [0, 7998, 15996, 23994]
    """
    if n_samples <= window:
        return [0]
    stride = max(frame_hop, window // 2 // frame_hop * frame_hop)
    last = (n_samples - window) // frame_hop * frame_hop
    starts = list(range(0, last + 1, stride))
    if starts[-1] != last:
        starts.append(last)
    return starts


class MaskBlender:
    """Blends the masks of overlapping windows into one mask.

    Arguments
    ---------
    frames : int
        STFT frames of the whole clip.

    Example
    -------
    >>> blender = MaskBlender(frames=6)
    >>> blender.add(torch.ones(4, 2), first_frame=0)
    >>> blender.add(torch.zeros(4, 2), first_frame=2)
    >>> blender.mask()[:, 0]
    tensor([1.0000, 1.0000, 0.8536, 0.1464, 0.0000, 0.0000])
    """

    def __init__(self, frames):
        self.frames = frames
        # Allocated by the first mask, which says how many bins masks have.
        self.weighted_sum = None
        self.weights = torch.zeros(frames, 1)
        self.covered = 0
        self._tapers = {}

    def add(self, mask, first_frame):
        """Adds one window's ``[frames, bins]`` mask, whose first frame is
        frame ``first_frame`` of the clip.

        Arguments
        ---------
        mask : torch.Tensor
        first_frame : int
        """
        if self.weighted_sum is None:
            self.weighted_sum = torch.zeros(self.frames, mask.shape[1])
        frames = min(mask.shape[0], self.frames - first_frame)
        taper = self._taper(mask.shape[0])[:frames]
        end = first_frame + frames
        self.weighted_sum[first_frame:end] += taper * mask[:frames].cpu()
        self.weights[first_frame:end] += taper
        self.covered = max(self.covered, end)

    def mask(self):
        """The blended ``[covered frames, bins]`` mask, up to the last frame
        a window's mask covers (a frame between windows' masks is 0)."""
        covered = slice(0, self.covered)
        weights = self.weights[covered].clamp(min=torch.finfo().tiny)
        return self.weighted_sum[covered] / weights

    def _taper(self, frames):
        """``[frames, 1]`` weights: sin² over the window, never zero, so a
        frame only one window covers keeps that window's mask."""
        if frames not in self._tapers:
            position = (torch.arange(frames) + 0.5) / frames
            self._tapers[frames] = torch.sin(math.pi * position)[:, None] ** 2
        return self._tapers[frames]


def resynthesize_in_chunks(
    features, istft, clip, mask, chunk_frames=CHUNK_FRAMES
):
    """The log-power spectrogram of a clip and the waveform of its masked
    spectrogram, computed ``chunk_frames`` frames at a time.

    Each chunk's STFT and inverse STFT are computed with a few frames of
    context on both sides, enough that the frames and samples kept from
    it are those of the whole clip's transforms (to float rounding).

    Arguments
    ---------
    features : speechbrain_piq.features.LogPowerSpectrogram
        The interpreter's features.
    istft : speechbrain.processing.features.ISTFT
        The matching inverse transform.
    clip : torch.Tensor
        ``[samples]`` waveform.
    mask : torch.Tensor
        ``[frames, bins]`` mask over the clip's first frames and bins.
    chunk_frames : int
        Frames per chunk.

    Returns
    -------
    logpower : torch.Tensor
        ``[frames, bins]``, cropped like ``mask``.
    interpretation : torch.Tensor
        ``[(frames - 1) * hop]`` waveform of ``mask * logpower``.

    Example
    -------
    >>> from speechbrain.processing.features import ISTFT
    >>> from speechbrain_piq.features import LogPowerSpectrogram
    >>> features = LogPowerSpectrogram()
    >>> istft = ISTFT(sample_rate=16000, hop_length=11.6099, win_length=23.2199)
    >>> clip = torch.randn(48000)
    >>> whole_logpower, stft = features(clip.unsqueeze(0))
    >>> mask = torch.rand(250, 513)
    >>> logpower, interpretation = resynthesize_in_chunks(
    ...     features, istft, clip, mask, chunk_frames=64
    ... )
    >>> whole = spectrogram_to_waveform(
    ...     mask * whole_logpower[:, :250], stft[:, :250], istft
    ... )
    >>> torch.allclose(logpower, whole_logpower[0, :250], atol=1e-5)
    True
    >>> torch.allclose(interpretation, whole[0], atol=1e-5)
    True
    """
    frames, bins = mask.shape
    hop = features.compute_stft.hop_length
    # A frame's samples reach n_fft / 2 either side of its centre: with this
    # many frames of context, the kept frames never see a chunk's edges.
    context = math.ceil(features.compute_stft.n_fft / hop) + 2
    logpowers, waveforms = [], []
    for first in range(0, frames, chunk_frames):
        last = min(first + chunk_frames, frames)
        low, high = max(0, first - context), min(frames, last + context)
        segment = clip[low * hop : (high + context) * hop].unsqueeze(0)
        logpower, stft = features(segment)
        logpower = logpower[:, : high - low, :bins]
        masked_in, _ = masked_spectrograms(mask[low:high], logpower)
        waveform = spectrogram_to_waveform(
            masked_in, stft[:, : high - low, :bins], istft
        )[0]
        end = (last - low) * hop if last < frames else waveform.shape[0]
        logpowers.append(logpower[0, first - low : last - low])
        waveforms.append(waveform[(first - low) * hop : end])
    return torch.cat(logpowers), torch.cat(waveforms)
