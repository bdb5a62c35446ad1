"""Deletion and insertion curves: metrics a large mask cannot game.

Binary-mask scores such as Fid-In reward keeping everything: an all-ones
mask keeps every prediction. Deletion and insertion (Petsiuk et al.,
RISE, 2018) instead ask whether the time-frequency bins a map ranks first
are the ones the classifier needs. With ``n`` bins ranked by the map's
value (highest first) and ``f = 0, 1/steps, ..., 1``:

- **insertion**: the classifier sees only the top ``f n`` bins of the
  log-power spectrogram (the rest set to 0, i.e. silence, as ``log1p`` of
  a zero magnitude); the curve is its probability for the class it
  predicted on the whole clip. A good map makes it rise early: a high
  area under the curve (AUC) is better.
- **deletion**: the top ``f n`` bins are set to 0 instead; a good map
  makes the probability fall early: a low AUC is better.

Only the map's ranking matters, so any attribution (a mask in [0, 1],
gradients, Grad-CAM) is scored on the same footing, and scaling a map
changes nothing. Bins of equal value are ranked in one fixed pseudo-random
order, the same for every clip and method, so a constant map gets a
random-order curve rather than a raster sweep that favours early frames.
"""

import torch

# Seed of the fixed order that breaks ties between bins of equal value.
TIE_BREAK_SEED = 0


def bin_ranks(saliency):
    """Rank of each bin in its clip's map, 0 for the most salient.

    Arguments
    ---------
    saliency : torch.Tensor
        ``[B, T, F]`` map; higher means more relevant.

    Returns
    -------
    torch.Tensor
        ``[B, T, F]`` long ranks in ``0 .. T F - 1``; ties are broken in a
        fixed pseudo-random order (``TIE_BREAK_SEED``).

    Example
    -------
    >>> bin_ranks(torch.tensor([[[0.1, 0.9], [0.5, 0.2]]]))
    tensor([[[3, 0],
             [1, 2]]])
    """
    flat = saliency.flatten(1).float()  # b n
    n_bins = flat.shape[1]
    generator = torch.Generator().manual_seed(TIE_BREAK_SEED)
    shuffle = torch.randperm(n_bins, generator=generator).to(flat.device)
    order = shuffle[
        flat[:, shuffle].argsort(dim=1, descending=True, stable=True)
    ]
    ranks = torch.empty_like(order)
    positions = torch.arange(n_bins, device=flat.device).expand_as(order)
    ranks.scatter_(1, order, positions)
    return ranks.view(saliency.shape)


def keep_top_fraction(saliency, fraction):
    """Boolean mask of the ``fraction`` most salient bins of each clip.

    Arguments
    ---------
    saliency : torch.Tensor
        ``[B, T, F]`` map.
    fraction : float
        Share of the bins to keep, in [0, 1] (rounded to whole bins).

    Returns
    -------
    torch.Tensor
        ``[B, T, F]`` bool.

    Example
    -------
    >>> keep = keep_top_fraction(torch.tensor([[[0.1, 0.9], [0.5, 0.2]]]), 0.5)
    >>> keep.int()
    tensor([[[0, 1],
             [1, 0]]], dtype=torch.int32)
    """
    kept = round(fraction * saliency[0].numel())
    return bin_ranks(saliency) < kept


@torch.no_grad()
def insertion_deletion_scores(
    classify,
    logpower,
    saliency,
    predicted_class,
    steps=20,
    logit_scale=1.0,
    batch_size=None,
):
    """Per-clip insertion and deletion AUC of a map.

    Arguments
    ---------
    classify : callable
        ``[N, T, F]`` log-power spectrograms to ``[N, classes]`` scores
        (e.g. ``lambda x: audio_classifier(x).logits``).
    logpower : torch.Tensor
        ``[B, T, F]`` the spectrograms the maps explain.
    saliency : torch.Tensor
        ``[B, T, F]`` the maps (any scale; only their ranking counts).
    predicted_class : torch.Tensor
        ``[B]`` the class whose probability is followed.
    steps : int
        Number of equal steps from 0 to all of the bins (``steps + 1``
        points per curve).
    logit_scale : float
        Probabilities are ``softmax(logit_scale * scores)`` (30 for the
        cosine-scoring ECAPA heads, see ``docs/metrics.md``).
    batch_size : int, optional
        Spectrograms per classifier call (default: ``B``), to bound memory.

    Returns
    -------
    dict
        ``insertion_auc`` and ``deletion_auc`` (``[B]``, in [0, 1]; the
        trapezoidal area over the fraction of bins), and ``insertion_curve``
        and ``deletion_curve`` (``[B, steps + 1]``).

    Example
    -------
    >>> def classify(logpower):  # class 0 scores the first bin's energy
    ...     first = logpower[:, 0, 0]
    ...     return torch.stack([first, 1 - first], dim=1)
    >>> logpower = torch.ones(1, 2, 2)
    >>> right = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    >>> scores = insertion_deletion_scores(
    ...     classify, logpower, right, torch.tensor([0]), steps=4,
    ...     logit_scale=10.0,
    ... )
    >>> scores["insertion_curve"].round(decimals=3)
    tensor([[0., 1., 1., 1., 1.]])
    >>> round(float(scores["insertion_auc"]), 3)
    0.875
    >>> round(float(scores["deletion_auc"]), 3)
    0.125
    """
    if saliency.shape != logpower.shape:
        raise ValueError(
            f"saliency has shape {list(saliency.shape)} but the spectrogram "
            f"{list(logpower.shape)}; maps must cover the spectrogram bins "
            "they rank"
        )
    batch = logpower.shape[0]
    n_bins = logpower[0].numel()
    ranks = bin_ranks(saliency)
    kept_bins = [round(step * n_bins / steps) for step in range(steps + 1)]
    curves = {"insertion": [], "deletion": []}
    for kept in kept_bins:
        keep = ranks < kept
        for name, selection in (("insertion", keep), ("deletion", ~keep)):
            curves[name].append(
                _class_probability(
                    classify,
                    logpower * selection,
                    predicted_class,
                    logit_scale,
                    batch_size or batch,
                )
            )
    fractions = torch.tensor(kept_bins, dtype=torch.float32) / n_bins
    fractions = fractions.to(logpower.device)
    scores = {}
    for name, points in curves.items():
        curve = torch.stack(points, dim=1)  # b steps+1
        scores[f"{name}_curve"] = curve
        scores[f"{name}_auc"] = torch.trapezoid(curve, fractions, dim=1)
    return scores


def _class_probability(classify, inputs, predicted_class, scale, batch_size):
    """``softmax(scale * classify(inputs))[c]`` for each clip, in chunks."""
    probabilities = []
    for start in range(0, inputs.shape[0], batch_size):
        chunk = slice(start, start + batch_size)
        scores = classify(inputs[chunk]).float() * scale
        probabilities.append(
            scores.softmax(dim=-1)
            .gather(1, predicted_class[chunk].view(-1, 1))
            .squeeze(1)
        )
    return torch.cat(probabilities)
