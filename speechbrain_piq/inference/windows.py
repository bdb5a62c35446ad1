"""Clips longer than the classifier's training clips, in bounded memory.

The classifier and PSI were trained on clips of ``clip_seconds``; their
memory grows with the clip, so a long recording is interpreted in
overlapping windows of that length (:func:`window_starts`), a few at a
time, and the windows' masks are blended into one mask over the whole
recording (:class:`MaskBlender`): each window's mask is weighted by a taper
that falls towards its edges, where the window's STFT saw zero padding
instead of the neighbouring audio, and the weighted masks are summed and
divided by the summed weights (overlap-add in the spectrogram domain).
"""

import math

import torch


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
    bins : int
        Frequency bins of the masks.

    Example
    -------
    >>> blender = MaskBlender(frames=6, bins=2)
    >>> blender.add(torch.ones(4, 2), first_frame=0)
    >>> blender.add(torch.zeros(4, 2), first_frame=2)
    >>> blender.mask()[:, 0]
    tensor([1.0000, 1.0000, 0.8536, 0.1464, 0.0000, 0.0000])
    """

    def __init__(self, frames, bins):
        self.weighted_sum = torch.zeros(frames, bins)
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
        frames = min(mask.shape[0], self.weights.shape[0] - first_frame)
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
