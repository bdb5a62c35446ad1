"""Faithfulness of an interpretation, read off the classifier's outputs.

The interpreter's mask ``M`` splits the input spectrogram ``X`` into the
masked-in part ``M * X`` and the masked-out part ``(1 - M) * X``. Feeding
both to the classifier and comparing its probabilities for the class it
predicted on ``X`` gives the metrics of the L-MAC paper (arXiv 2403.13086)
that upstream's ``recipes/ESC50/interpret`` logs: Fid-In, FF, AI, AD, AG.

Every metric here returns one value per clip (a ``[batch]`` tensor on the
logits' device), so that a stage-level mean is a plain mean over clips
(see ``speechbrain_piq.metrics.stage_stats.StageMetrics``).
"""

import torch

# Per-clip indicators and ratios are scaled like upstream's logs: AI, AD and
# AG as percentages, Fid-In and accuracy as fractions.
PERCENT = 100.0


def _check_logits(name, logits, reference_shape=None):
    """Raise a clear error unless ``logits`` is a float ``[batch, classes]``
    tensor (of ``reference_shape`` when given) with at least two classes."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of classifier logits "
            f"[batch, classes], got {type(logits).__name__}"
        )
    if logits.ndim != 2 or not logits.is_floating_point():
        raise ValueError(
            f"{name} must be float logits of shape [batch, classes], got "
            f"{logits.dtype} of shape {list(logits.shape)}; squeeze any "
            "singleton axis the classifier adds (e.g. [batch, 1, classes])"
        )
    if logits.shape[1] < 2:
        raise ValueError(
            f"{name} has {logits.shape[1]} class; faithfulness metrics "
            "compare the predicted class with the others and need >= 2"
        )
    if reference_shape is not None and logits.shape != reference_shape:
        raise ValueError(
            f"{name} has shape {list(logits.shape)} but logits have "
            f"{list(reference_shape)}; classify the masked inputs with the "
            "same classifier and batch as the original input"
        )


def _check_class_index(name, index, batch_size):
    """Raise a clear error unless ``index`` is an integer tensor ``[batch]``."""
    if not isinstance(index, torch.Tensor) or index.is_floating_point():
        raise TypeError(
            f"{name} must be an integer tensor of class indices [batch], "
            f"got {getattr(index, 'dtype', type(index).__name__)}"
        )
    if index.ndim == 2 and index.shape[1] == 1:
        # SpeechBrain's encoded labels come padded as [batch, 1].
        index = index.squeeze(1)
    if index.shape != (batch_size,):
        raise ValueError(
            f"{name} must have shape [{batch_size}] (one class per clip), "
            f"got {list(index.shape)}"
        )
    return index


def _class_log_prob_and_rest(logits, class_index):
    """Return ``log p_c`` and ``log (1 - p_c)`` for class ``c`` of each clip.

    Both come from ``log_softmax`` in float32, so they stay accurate when
    ``p_c`` is within float precision of 0 or 1, where ``1 - softmax`` and
    half-precision (autocast) logits would round to exactly 0.
    """
    log_probs = logits.float().log_softmax(dim=-1)  # b c
    index = class_index.unsqueeze(-1)  # b 1
    log_prob = log_probs.gather(-1, index).squeeze(-1)
    others = log_probs.scatter(-1, index, float("-inf"))
    return log_prob, others.logsumexp(dim=-1)


@torch.no_grad()
def faithfulness_scores(
    logits, logits_masked_in, logits_masked_out, predicted_class=None
):
    """Compute Fid-In, FF, AI, AD and AG of each clip's interpretation.

    With ``p = softmax(logits)``, ``p_in`` and ``p_out`` the softmax of the
    masked-in and masked-out logits, and ``c`` the class the classifier
    predicts on the original input (``argmax p``), per clip:

    - ``fid_in`` (input fidelity, a fraction): ``1`` if
      ``argmax p_in == c`` else ``0``.
    - ``faithfulness`` (FF): ``p[c] - p_out[c]``, in ``[-1, 1]``; high when
      removing the interpretation removes the evidence for ``c``.
    - ``ai`` (average increase, percent): ``100`` if ``p_in[c] > p[c]``
      else ``0``.
    - ``ad`` (average drop, percent):
      ``100 * max(0, p[c] - p_in[c]) / p[c]``, in ``[0, 100]``.
    - ``ag`` (average gain, percent):
      ``100 * max(0, p_in[c] - p[c]) / (1 - p[c])``, in ``[0, 100]``.

    The stage mean of each (``StageMetrics``) is what upstream logs as
    ``input_fidelity``, ``faithfulness_mean``, ``AI``, ``AD`` and ``AG``.

    Differences from upstream's ``interpreter_brain.py``, all fixes:

    - Upstream's AD applies ``softmax`` to inputs the recipe had already
      passed through ``softmax``, so it measures a drop between two
      near-uniform vectors and under-reports AD. Here every metric uses one
      ``softmax``, as the L-MAC paper defines them.
    - AD and AG are evaluated as ``1 - p_in[c] / p[c]`` and
      ``1 - (1 - p_in[c]) / (1 - p[c])`` in log space instead of dividing
      by ``p[c] + 1e-10`` and ``1 - p[c] + 1e-10``: for a confident
      classifier ``1 - p[c]`` rounds to 0 in float32 (and ``1e-10`` to 0
      in float16), which upstream turns into a spurious 0 or 0/0 NaN.
      For the same reason AI compares ``log p`` and ``log (1 - p)``, not
      two probabilities that both rounded to 1. Logits are upcast to
      float32 so autocast does not change the scores.

    Arguments
    ---------
    logits : torch.Tensor
        Classifier logits on the original input, ``[batch, classes]``.
    logits_masked_in : torch.Tensor
        Classifier logits on the masked-in input ``M * X``, same shape.
    logits_masked_out : torch.Tensor
        Classifier logits on the masked-out input ``(1 - M) * X``, same
        shape.
    predicted_class : torch.Tensor, optional
        Integer ``[batch]`` class the metrics are measured for; defaults to
        ``logits.argmax(-1)``, the classifier's prediction, which is what
        the interpreter explains. Values must lie in ``[0, classes)``.

    Returns
    -------
    dict
        ``{"fid_in", "faithfulness", "ai", "ad", "ag"}``, each a float32
        ``[batch]`` tensor on the logits' device.

    Example
    -------
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    >>> masked_in = torch.tensor([[3.0, 0.0], [1.0, 0.0]])
    >>> masked_out = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    >>> scores = faithfulness_scores(logits, masked_in, masked_out)
    >>> sorted(scores)
    ['ad', 'ag', 'ai', 'faithfulness', 'fid_in']
    >>> scores["fid_in"], scores["ai"]
    (tensor([1., 0.]), tensor([100.,   0.]))
    >>> scores["ad"]
    tensor([ 0.0000, 63.2121])
    """
    _check_logits("logits", logits)
    _check_logits("logits_masked_in", logits_masked_in, logits.shape)
    _check_logits("logits_masked_out", logits_masked_out, logits.shape)
    if predicted_class is None:
        predicted_class = logits.argmax(dim=-1)
    predicted_class = _check_class_index(
        "predicted_class", predicted_class, logits.shape[0]
    )

    log_prob, log_rest = _class_log_prob_and_rest(logits, predicted_class)
    log_prob_in, log_rest_in = _class_log_prob_and_rest(
        logits_masked_in, predicted_class
    )
    log_prob_out, _ = _class_log_prob_and_rest(
        logits_masked_out, predicted_class
    )

    fid_in = logits_masked_in.argmax(dim=-1) == predicted_class
    # p_in > p read on both sides: log p resolves it near p = 0 and
    # log (1 - p) near p = 1, where the other rounds to a tie.
    increase = (log_prob_in > log_prob) | (log_rest_in < log_rest)
    return {
        "fid_in": fid_in.float(),
        "faithfulness": log_prob.exp() - log_prob_out.exp(),
        "ai": increase.float() * PERCENT,
        "ad": (1 - (log_prob_in - log_prob).exp()).clamp(min=0) * PERCENT,
        "ag": (1 - (log_rest_in - log_rest).exp()).clamp(min=0) * PERCENT,
    }


@torch.no_grad()
def accuracy(logits, labels):
    """Per-clip accuracy of the classifier: ``1`` if its top class is the
    label, else ``0`` (a fraction once averaged, as upstream's ``acc``).

    Arguments
    ---------
    logits : torch.Tensor
        Classifier logits, ``[batch, classes]``.
    labels : torch.Tensor
        Integer class indices, ``[batch]`` or SpeechBrain's ``[batch, 1]``.

    Returns
    -------
    torch.Tensor
        Float32 ``[batch]`` of zeros and ones.

    Example
    -------
    >>> accuracy(torch.tensor([[2.0, 0.0], [2.0, 0.0]]), torch.tensor([0, 1]))
    tensor([1., 0.])
    """
    _check_logits("logits", logits)
    labels = _check_class_index("labels", labels, logits.shape[0])
    return (logits.argmax(dim=-1) == labels).float()
