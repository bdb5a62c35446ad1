"""How concentrated an interpretation mask is: SPS and COMP.

The L-MAC paper (arXiv 2403.13086) reports the sparseness (SPS) and the
complexity (COMP) of the masks, which upstream computes with
``quantus.Sparseness`` and ``quantus.Complexity`` on the CPU, one batch at a
time. These are the same quantities in torch, on the mask's device and
vectorised over the batch, one value per clip.

A mask that is zero everywhere highlights nothing, so neither score is
defined for it: both return NaN for that clip (upstream skips such
batches), which ``StageMetrics`` leaves out of the stage mean and reports.
"""

import torch

# quantus adds this to every (peak-normalised) attribution before sorting,
# which keeps its Gini index finite; kept so the scores match quantus.
QUANTUS_FLOOR = 1e-7


def _flat_magnitudes(mask, name):
    """Return ``|mask|`` as float32 ``[batch, features]``, or raise a clear
    error if ``mask`` is not a ``[batch, ...]`` tensor."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(
            f"{name} expects the mask as a torch.Tensor [batch, ...], got "
            f"{type(mask).__name__}"
        )
    if mask.ndim < 2 or 0 in mask.shape[1:]:
        raise ValueError(
            f"{name} expects a mask of shape [batch, ...] with at least one "
            f"value per clip, got shape {list(mask.shape)}; add the batch "
            "axis with mask.unsqueeze(0) for a single clip"
        )
    return mask.flatten(start_dim=1).abs().float()  # b n


@torch.no_grad()
def sparseness(mask):
    """Gini index of each clip's mask (SPS), as ``quantus.Sparseness``.

    With ``a`` the clip's ``|mask|`` flattened to ``n`` values, divided by its
    maximum, raised by ``1e-7`` and sorted ascending, the score is
    ``sum_i (2 i - n - 1) a_i / (n sum_i a_i)`` (``i = 1 .. n``): 0 for a
    uniform mask, ``(n - 1) / n`` minus a hair for a single non-zero value.
    Higher is sparser. An all-zero mask scores NaN.

    quantus (``abs=True, normalise=True``, its defaults) divides by the
    maximum of the whole batch rather than of each clip, so its score for a
    clip moves with its batch-mates by up to about ``1e-7``; this one is the
    score quantus gives the clip alone.

    Arguments
    ---------
    mask : torch.Tensor
        Interpretation masks, ``[batch, ...]`` (e.g. ``[batch, time, freq]``).
        Signs are ignored.

    Returns
    -------
    torch.Tensor
        Float32 ``[batch]`` on the mask's device.

    Example
    -------
    >>> mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]])
    >>> sparseness(mask)
    tensor([0.0000, 0.7500])
    >>> sparseness(torch.zeros(1, 4))
    tensor([nan])
    """
    values = _flat_magnitudes(mask, "sparseness")
    n_values = values.shape[1]
    # An all-zero clip divides 0 by 0 here: the NaN marks it undefined.
    values = values / values.amax(dim=1, keepdim=True) + QUANTUS_FLOOR
    values = values.sort(dim=1).values
    rank = torch.arange(
        1, n_values + 1, device=values.device, dtype=values.dtype
    )
    weight = 2 * rank - n_values - 1
    return (weight * values).sum(dim=1) / (n_values * values.sum(dim=1))


@torch.no_grad()
def complexity(mask):
    """Entropy of each clip's normalised mask (COMP), as
    ``quantus.Complexity``.

    With ``p = |mask| / sum |mask|`` over the clip, the score is
    ``-sum p log p`` in nats (``0 log 0 = 0``): 0 when one value carries the
    whole mask, ``log n`` for a uniform mask of ``n`` values. Lower is
    simpler. An all-zero mask scores NaN.

    quantus 0.6 evaluates ``-sum p log(p + 1e-12)`` (older releases used
    ``scipy.stats.entropy``, the exact form used here); the two differ by at
    most ``n * 1e-12``.

    Arguments
    ---------
    mask : torch.Tensor
        Interpretation masks, ``[batch, ...]``. Signs are ignored.

    Returns
    -------
    torch.Tensor
        Float32 ``[batch]`` on the mask's device.

    Example
    -------
    >>> mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 2.0]])
    >>> complexity(mask)
    tensor([1.3863, 0.0000])
    >>> complexity(torch.zeros(1, 4))
    tensor([nan])
    """
    values = _flat_magnitudes(mask, "complexity")
    # An all-zero clip divides 0 by 0 here: the NaN marks it undefined.
    share = values / values.sum(dim=1, keepdim=True)
    return torch.special.entr(share).sum(dim=1)
