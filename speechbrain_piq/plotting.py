"""The figure a person looks at: input, mask and interpretation side by side."""

import matplotlib
import torch

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

# Frames drawn per panel, at most: a panel is a few hundred pixels wide, and
# a long recording's tens of thousands of frames would cost gigabytes.
MAX_DRAWN_FRAMES = 2000


def plot_interpretation(logpower, mask, title, path):
    """Writes a PNG with the input spectrogram, the mask and the
    interpretation (mask times input), time on x and frequency on y.

    Longer clips than ``MAX_DRAWN_FRAMES`` frames are drawn with
    neighbouring frames averaged.

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

    Example
    -------
    >>> import os
    >>> path = os.path.join(getfixture("tmp_path"), "interpretation.png")
    >>> plot_interpretation(
    ...     torch.rand(50, 40), torch.rand(50, 40), "dog (p=0.93)", path
    ... )
    >>> os.path.getsize(path) > 0
    True
    """
    logpower = logpower.detach().float().cpu()
    mask = mask.detach().float().cpu()
    frames, bins = mask.shape
    panels = (
        ("input log-power spectrogram", logpower, None),
        ("mask", mask, (0.0, 1.0)),
        ("interpretation", mask * logpower, None),
    )
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5), dpi=100)
    for axis, (name, image, limits) in zip(axes, panels):
        vmin, vmax = limits if limits else (None, None)
        shown = axis.imshow(
            _drawn(image).numpy(),
            origin="lower",
            aspect="auto",
            extent=(0, frames, 0, bins),
            vmin=vmin,
            vmax=vmax,
            cmap="magma",
        )
        axis.set_title(name)
        axis.set_xlabel("frame")
        axis.set_ylabel("frequency bin")
        figure.colorbar(shown, ax=axis)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)


def _drawn(image):
    """``[F, T']`` image of a ``[T, F]`` map, at most ``MAX_DRAWN_FRAMES``
    frames wide."""
    image = image.t()
    if image.shape[1] <= MAX_DRAWN_FRAMES:
        return image
    pooled = torch.nn.functional.adaptive_avg_pool1d(
        image.unsqueeze(0), MAX_DRAWN_FRAMES
    )
    return pooled[0]
