"""How well an interpretation mask covers the target event's true region.

Given a mask over the classifier's spectrogram (``[B, T, F]`` in [0, 1])
and the ground-truth box of the target event (and of a distractor, if
any) in seconds and Hz, these scores say whether the mask found the
event and avoided the distractor. They need datasets that know where
their events are, such as the demo dataset (``speechbrain_piq.demo``).

The grid follows SpeechBrain's centred ``STFT``: frame ``t`` sits at
``t * hop / sample_rate`` seconds, with ``hop`` in samples rounded as
``STFT`` rounds it, and bin ``f`` at ``f * sample_rate / n_fft`` Hz. A
cell belongs to a box when its frame time and bin frequency both lie
within the box, edges included. Masks shorter than the spectrogram (the
PIQ decoder gives 417 of 431 frames) cover its first frames.

Scores are per clip; ``speechbrain_piq.metrics.stage_stats.StageMetrics``
averages them over a stage, leaving out the NaN ``distractor_mass`` of
clips without a distractor.
"""

import math

import torch

SCORE_NAMES = (
    "loc_precision",
    "loc_recall",
    "loc_iou",
    "event_box_share",
    "distractor_mass",
    "distractor_box_share",
)
# Undefined (NaN) for every clip without a distractor: expected, not a fault.
DISTRACTOR_SCORE_NAMES = ("distractor_mass", "distractor_box_share")


def region_to_tf_mask(
    regions,
    n_frames,
    n_bins,
    sample_rate=16000,
    hop_length_ms=11.6099,
    n_fft=1024,
):
    """Marks the spectrogram cells inside each time-frequency box.

    Arguments
    ---------
    regions : torch.Tensor
        ``[B, 4]`` boxes ``(onset_s, offset_s, low_hz, high_hz)``; a row
        with NaN (no region) marks no cell.
    n_frames : int
        Number of frames ``T`` of the grid.
    n_bins : int
        Number of frequency bins ``F`` of the grid.
    sample_rate : int
        Sample rate the spectrogram was computed at.
    hop_length_ms : float
        STFT hop, in milliseconds (as given to SpeechBrain's ``STFT``).
    n_fft : int
        FFT size of the STFT.

    Returns
    -------
    torch.Tensor
        ``[B, T, F]`` bool, True inside the box; on ``regions``' device.

    Example
    -------
    >>> box = region_to_tf_mask(torch.tensor([[1.0, 2.0, 1000.0, 2000.0]]),
    ...                         431, 513)
    >>> box.shape, int(box.any(2).sum()), int(box.any(1).sum())
    (torch.Size([1, 431, 513]), 86, 65)
    """
    if regions.dim() != 2 or regions.shape[1] != 4:
        raise ValueError(
            f"regions must be [B, 4] (onset_s, offset_s, low_hz, high_hz), "
            f"got shape {tuple(regions.shape)}."
        )
    regions = regions.to(torch.promote_types(regions.dtype, torch.float32))
    grid = {"device": regions.device, "dtype": regions.dtype}
    hop_s = _hop_s(sample_rate, hop_length_ms)
    frame_s = torch.arange(n_frames, **grid) * hop_s  # [T]
    bin_hz = torch.arange(n_bins, **grid) * (sample_rate / n_fft)  # [F]
    onset, offset, low, high = regions.unsqueeze(-1).unbind(1)  # each [B, 1]
    in_time = (frame_s >= onset) & (frame_s <= offset)  # [B, T]
    in_band = (bin_hz >= low) & (bin_hz <= high)  # [B, F]
    return in_time.unsqueeze(2) & in_band.unsqueeze(1)


def localisation_scores(
    mask,
    event_region,
    distractor_region=None,
    threshold=0.5,
    sample_rate=16000,
    hop_length_ms=11.6099,
    n_fft=1024,
):
    """Per-clip scores of how a mask covers the event and the distractor.

    With ``m`` the mask, ``E`` the cells of the event's box and ``D``
    those of the distractor's (see ``region_to_tf_mask``), per clip:

    - ``loc_precision = sum(m in E) / sum(m)``: the share of the mask's
      mass (its relevance) that falls on the event; 1 when the mask
      stays inside the box, the box's area fraction for an all-ones mask.
    - ``loc_recall = sum(m in E) / |E|``: the mean mask value over the
      box; 1 when the mask fully covers the event.
    - ``loc_iou = |(m >= threshold) & E| / |(m >= threshold) | E|``: the
      intersection over union of the thresholded mask and the box.
    - ``distractor_mass = sum(m in D) / sum(m)``: the share of the mask's
      mass on the distractor (lower is better); NaN for clips without a
      distractor (a NaN ``distractor_region`` row, or None for all).
    - ``event_box_share = |E| / (T * F)`` and ``distractor_box_share =
      |D| / (T * F)``: the boxes' shares of the spectrogram, which are
      what a uniform mask scores as ``loc_precision`` and
      ``distractor_mass`` (the chance levels to compare them with).

    A score whose denominator is 0 (an all-zero mask) is 0, never NaN.

    Arguments
    ---------
    mask : torch.Tensor
        ``[B, T, F]`` mask in [0, 1]; ``T`` may be smaller than the
        spectrogram's frame count (the mask covers the first frames).
    event_region : torch.Tensor
        ``[B, 4]`` target boxes ``(onset_s, offset_s, low_hz, high_hz)``.
    distractor_region : torch.Tensor, optional
        ``[B, 4]`` distractor boxes, NaN rows where there is none.
    threshold : float
        Mask value from which a cell counts as selected, for ``loc_iou``.
    sample_rate : int
        Sample rate the spectrogram was computed at.
    hop_length_ms : float
        STFT hop, in milliseconds.
    n_fft : int
        FFT size of the STFT.

    Returns
    -------
    dict of str to torch.Tensor
        ``loc_precision``, ``loc_recall``, ``loc_iou``,
        ``distractor_mass``, ``event_box_share`` and
        ``distractor_box_share``, each ``[B]`` on ``mask``'s device.

    Example
    -------
    >>> event = torch.tensor([[1.0, 2.0, 1000.0, 2000.0]])
    >>> on_event = region_to_tf_mask(event, 417, 513).float()
    >>> scores = localisation_scores(on_event, event)
    >>> {name: round(float(score), 2) for name, score in scores.items()}
    {'loc_precision': 1.0, 'loc_recall': 1.0, 'loc_iou': 1.0, 'event_box_share': 0.03, 'distractor_mass': nan, 'distractor_box_share': nan}
    """
    _check_inputs(mask, event_region, distractor_region)
    _, n_frames, n_bins = mask.shape
    grid = (n_frames, n_bins, sample_rate, hop_length_ms, n_fft)
    event_box = region_to_tf_mask(event_region.to(mask.device), *grid)
    empty_boxes = ~event_box.flatten(1).any(1)
    if empty_boxes.any():
        first = int(empty_boxes.nonzero()[0])
        raise ValueError(
            f"event_region {event_region[first].tolist()} of clip {first} "
            f"covers no cell of the [{n_frames}, {n_bins}] mask (frames up "
            f"to {(n_frames - 1) * _hop_s(sample_rate, hop_length_ms):.3f} "
            f"s, bins up to {(n_bins - 1) * sample_rate / n_fft:.0f} Hz); "
            "check that sample_rate, hop_length_ms and n_fft match the "
            "spectrogram the mask was computed on."
        )
    distractor_box = None
    if distractor_region is not None:
        distractor_box = region_to_tf_mask(
            distractor_region.to(mask.device), *grid
        )
        no_distractor = distractor_region.isnan().any(1).to(mask.device)
        distractor_box[no_distractor] = False
    scores = cell_localisation_scores(
        mask, event_box, distractor_box, threshold
    )
    if distractor_region is not None:
        for name in ("distractor_mass", "distractor_box_share"):
            scores[name] = scores[name].masked_fill(no_distractor, math.nan)
    return scores


def cell_localisation_scores(
    mask, event_cells, distractor_cells=None, threshold=0.5
):
    """Per-clip localisation scores against any ground-truth cells.

    The scores of :func:`localisation_scores`, for ground truth given as
    cells rather than boxes, e.g. the ideal binary mask of a source in a
    mixture (``speechbrain_piq.evaluation.mixtures``). A clip whose
    ``distractor_cells`` are all False has a NaN ``distractor_mass`` and
    ``distractor_box_share``.

    Arguments
    ---------
    mask : torch.Tensor
        ``[B, T, F]`` mask in [0, 1].
    event_cells : torch.Tensor
        ``[B, T, F]`` bool, the target's cells (at least one per clip).
    distractor_cells : torch.Tensor, optional
        ``[B, T, F]`` bool, the distractor's cells.
    threshold : float
        Mask value from which a cell counts as selected, for ``loc_iou``.

    Returns
    -------
    dict of str to torch.Tensor
        ``loc_precision``, ``loc_recall``, ``loc_iou``,
        ``event_box_share``, ``distractor_mass`` and
        ``distractor_box_share``, each ``[B]``.

    Example
    -------
    >>> event = torch.tensor([[[True, False], [False, False]]])
    >>> other = torch.tensor([[[False, True], [False, False]]])
    >>> scores = cell_localisation_scores(torch.ones(1, 2, 2), event, other)
    >>> {name: float(score) for name, score in scores.items()}
    {'loc_precision': 0.25, 'loc_recall': 1.0, 'loc_iou': 0.25, 'event_box_share': 0.25, 'distractor_mass': 0.25, 'distractor_box_share': 0.25}
    """
    if event_cells.shape != mask.shape or (
        distractor_cells is not None and distractor_cells.shape != mask.shape
    ):
        raise ValueError(
            f"ground-truth cells must match the mask's shape "
            f"{list(mask.shape)}, got {list(event_cells.shape)}"
            + (
                ""
                if distractor_cells is None
                else f" and {list(distractor_cells.shape)}"
            )
        )
    batch, n_frames, n_bins = mask.shape
    # Sums over 200k cells overflow float16, so accumulate in float32.
    mask = mask.to(torch.promote_types(mask.dtype, torch.float32))
    event_cells = event_cells.to(mask.device)
    total_mass = mask.sum((1, 2)).clamp_min(torch.finfo(mask.dtype).tiny)
    event_mass = (mask * event_cells).sum((1, 2))
    selected = mask >= threshold
    intersection = (selected & event_cells).sum((1, 2))
    union = (selected | event_cells).sum((1, 2)).clamp_min(1)
    event_count = event_cells.sum((1, 2))
    cells = n_frames * n_bins
    scores = {
        "loc_precision": event_mass / total_mass,
        "loc_recall": event_mass / event_count.clamp_min(1),
        "loc_iou": intersection / union,
        "event_box_share": event_count.to(mask.dtype) / cells,
    }
    if distractor_cells is None:
        scores["distractor_mass"] = mask.new_full((batch,), math.nan)
        scores["distractor_box_share"] = mask.new_full((batch,), math.nan)
        return scores
    distractor_cells = distractor_cells.to(mask.device)
    distractor_count = distractor_cells.sum((1, 2))
    absent = distractor_count == 0
    scores["distractor_mass"] = (
        (mask * distractor_cells).sum((1, 2)) / total_mass
    ).masked_fill(absent, math.nan)
    scores["distractor_box_share"] = (
        distractor_count.to(mask.dtype) / cells
    ).masked_fill(absent, math.nan)
    return scores


def _hop_s(sample_rate, hop_length_ms):
    """The STFT hop in seconds, rounded to whole samples as ``STFT`` does."""
    return int(round(sample_rate / 1000.0 * hop_length_ms)) / sample_rate


def _check_inputs(mask, event_region, distractor_region):
    """Raises a ValueError naming the malformed input and what is expected."""
    if mask.dim() != 3:
        raise ValueError(
            f"mask must be [B, T, F], got shape {tuple(mask.shape)}; add a "
            "batch axis for a single clip, or squeeze a channel axis."
        )
    expected = (mask.shape[0], 4)
    for name, region in (
        ("event_region", event_region),
        ("distractor_region", distractor_region),
    ):
        if region is not None and tuple(region.shape) != expected:
            raise ValueError(
                f"{name} must be [B, 4] = {list(expected)} to match the "
                f"mask's batch, got shape {tuple(region.shape)}."
            )
    if event_region.isnan().any():
        raise ValueError(
            "event_region has NaN: every clip needs the target event's box "
            "(the manifest's event_onset, event_offset, event_low_hz, "
            "event_high_hz columns)."
        )
    if mask.isnan().any() or mask.min() < 0 or mask.max() > 1:
        raise ValueError(
            f"mask values must lie in [0, 1] (got min {float(mask.min())}, "
            f"max {float(mask.max())}); pass the mask after its sigmoid, "
            "not logits."
        )
