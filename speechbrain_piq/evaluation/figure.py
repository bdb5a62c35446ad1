"""The evaluation's figure: one row per clip, one column per map."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FIGURE_FILE = "evaluation.png"


def plot_maps(path, rows, grid, methods):
    """Draws spectrogram, ground truth and each method's map per clip.

    Arguments
    ---------
    path : str
        PNG to write.
    rows : list of dict
        One per clip: ``clip_id``, ``label`` (predicted class),
        ``logpower`` (``[T, F]``), ``ground_truth`` (``[T, F]`` or None)
        and ``maps`` (``{method: [T, F]}``), CPU tensors.
    grid : speechbrain_piq.plotting.SpectrogramGrid
        The spectrogram's STFT settings (axes in seconds and kHz).
    methods : list of str
        Column order.

    Example
    -------
    >>> import torch
    >>> from speechbrain_piq.plotting import SpectrogramGrid
    >>> grid = SpectrogramGrid(sample_rate=16000, hop_length=160, n_fft=10)
    >>> row = {"clip_id": "a", "label": "dog", "logpower": torch.rand(8, 6),
    ...        "ground_truth": None, "maps": {"ones": torch.ones(8, 6)}}
    >>> path = str(getfixture("tmp_path") / "maps.png")
    >>> plot_maps(path, [row], grid, ["ones"])
    """
    has_truth = any(row["ground_truth"] is not None for row in rows)
    titles = ["spectrogram"] + (["ground truth"] if has_truth else []) + methods
    figure, axes = plt.subplots(
        len(rows),
        len(titles),
        figsize=(2.2 * len(titles) + 1, 2.0 * len(rows) + 0.6),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    for row_axes, row in zip(axes, rows):
        frames, bins = row["logpower"].shape
        extent = grid.extent(frames, bins)
        images = [(row["logpower"], "magma", None)]
        if has_truth:
            truth = row["ground_truth"]
            images.append(
                (truth.float() if truth is not None else None, "gray", (0, 1))
            )
        images += [
            (row["maps"][method], "viridis", (0, 1)) for method in methods
        ]
        for ax, (image, cmap, limits) in zip(row_axes, images):
            if image is not None:
                shown = ax.imshow(
                    image.T.float().numpy(),
                    origin="lower",
                    aspect="auto",
                    extent=extent,
                    cmap=cmap,
                    vmin=None if limits is None else limits[0],
                    vmax=None if limits is None else limits[1],
                    interpolation="nearest",
                )
                if cmap == "viridis":
                    map_image = shown
        row_axes[0].set_ylabel(
            f"{row['clip_id'][:18]}\n({row['label']})\nkHz", fontsize=7
        )
    for ax, title in zip(axes[0], titles):
        ax.set_title(title, fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)", fontsize=8)
    for ax in axes.flat:
        ax.tick_params(labelsize=7)
    figure.tight_layout(rect=(0, 0, 0.93, 1))
    colour_axis = figure.add_axes((0.945, 0.15, 0.012, 0.7))
    figure.colorbar(map_image, cax=colour_axis).set_label(
        "map value", fontsize=8
    )
    figure.savefig(path, dpi=90)
    plt.close(figure)
