"""The figure a person looks at: input, mask and interpretation side by side,
in seconds and kHz."""

from dataclasses import dataclass

import matplotlib
import torch

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

# Frames drawn per panel, at most: a panel is a few hundred pixels wide, and
# a long recording's tens of thousands of frames would cost gigabytes.
MAX_DRAWN_FRAMES = 2000

PANELS = (
    # title, colour bar label, colour limits
    ("input log-power spectrogram", "log power", None),
    ("mask", "mask value", (0.0, 1.0)),
    ("interpretation (mask x input)", "masked log power", None),
)


@dataclass(frozen=True)
class SpectrogramGrid:
    """Where a spectrogram's frames and bins lie in time and frequency.

    Frame ``t`` is centred at ``t * hop_length / sample_rate`` seconds
    (SpeechBrain's centred ``STFT``) and bin ``f`` at
    ``f * sample_rate / n_fft`` Hz.

    Arguments
    ---------
    sample_rate : int
        Sample rate the spectrogram was computed at, in Hz.
    hop_length : int
        STFT hop, in samples.
    n_fft : int
        FFT size.

    Example
    -------
    >>> from speechbrain.processing.features import STFT
    >>> stft = STFT(sample_rate=16000, hop_length=11.6099, n_fft=1024)
    >>> grid = SpectrogramGrid.of_stft(stft, n_bins=513)
    >>> grid
    SpectrogramGrid(sample_rate=16000, hop_length=186, n_fft=1024)
    >>> [round(edge, 4) for edge in grid.extent(n_frames=431, n_bins=513)]
    [-0.0058, 5.0046, -0.0078, 8.0078]
    """

    sample_rate: int
    hop_length: int
    n_fft: int

    @classmethod
    def of_stft(cls, stft, n_bins):
        """The grid of a SpeechBrain ``STFT`` or ``ISTFT`` module.

        Arguments
        ---------
        stft : speechbrain.processing.features.STFT or ISTFT
            The module (its ``hop_length`` is in samples once built).
        n_bins : int
            Bins of the spectrogram, which give ``n_fft`` where the module
            leaves it open (an ``ISTFT`` without ``n_fft``).

        Returns
        -------
        SpectrogramGrid
        """
        n_fft = stft.n_fft or 2 * (n_bins - 1)
        return cls(int(stft.sample_rate), int(stft.hop_length), int(n_fft))

    def extent(self, n_frames, n_bins):
        """``(left, right, bottom, top)`` for ``imshow``: seconds and kHz,
        each cell centred on its frame's time and its bin's frequency.

        Arguments
        ---------
        n_frames : int
            Frames shown (the first ``n_frames`` of the clip).
        n_bins : int
            Bins shown (the lowest ``n_bins``).

        Returns
        -------
        tuple of float
        """
        frame_s = self.hop_length / self.sample_rate
        bin_khz = self.sample_rate / self.n_fft / 1000
        return (
            -frame_s / 2,
            (n_frames - 0.5) * frame_s,
            -bin_khz / 2,
            (n_bins - 0.5) * bin_khz,
        )


def plot_interpretation(logpower, mask, title, path, grid=None):
    """Writes a PNG with the input spectrogram, the mask and the
    interpretation (mask times input), time on x and frequency on y.

    Arguments
    ---------
    logpower : torch.Tensor
        ``[T, F]`` log-power spectrogram of the clip.
    mask : torch.Tensor
        ``[T, F]`` mask in [0, 1] (same size).
    title : str
        Figure title, e.g. the predicted class and its probability.
    path : str
        Where to write the PNG.
    grid : SpectrogramGrid, optional
        The spectrogram's STFT settings: axes in seconds and kHz. Without
        it the axes count frames and frequency bins.

    Example
    -------
    >>> import os
    >>> path = os.path.join(getfixture("tmp_path"), "interpretation.png")
    >>> plot_interpretation(
    ...     torch.rand(50, 40), torch.rand(50, 40), "dog (p = 0.93)", path,
    ...     SpectrogramGrid(sample_rate=16000, hop_length=186, n_fft=78),
    ... )
    >>> os.path.getsize(path) > 0
    True
    """
    logpower = logpower.detach().float().cpu()
    mask = mask.detach().float().cpu()
    frames, bins = logpower.shape
    if grid is None:
        extent, x_label, y_label = (
            (0, frames, 0, bins),
            "frame",
            "frequency bin",
        )
    else:
        extent = grid.extent(frames, bins)
        x_label, y_label = "time (s)", "frequency (kHz)"
    images = (logpower, mask, mask * logpower)
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5), dpi=100)
    for axis, image, (name, unit, limits) in zip(axes, images, PANELS):
        vmin, vmax = limits if limits else (None, None)
        shown = axis.imshow(
            _drawn(image).numpy(),
            origin="lower",
            aspect="auto",
            extent=extent,
            vmin=vmin,
            vmax=vmax,
            cmap="magma",
        )
        axis.set_title(name)
        axis.set_xlabel(x_label)
        axis.set_ylabel(y_label)
        figure.colorbar(shown, ax=axis).set_label(unit)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)


def _drawn(image):
    """``[F, T']`` image of a ``[T, F]`` map, at most ``MAX_DRAWN_FRAMES``
    frames wide (neighbouring frames averaged)."""
    image = image.t()
    if image.shape[1] <= MAX_DRAWN_FRAMES:
        return image
    pooled = torch.nn.functional.adaptive_avg_pool1d(
        image.unsqueeze(0), MAX_DRAWN_FRAMES
    )
    return pooled[0]
