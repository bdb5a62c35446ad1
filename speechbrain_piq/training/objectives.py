"""The interpreter's training objective: named loss terms, weighted in the yaml.

Each term is a per-clip tensor ``[B]`` computed from one
:class:`~speechbrain_piq.interpretation.Interpretation`:

* ``rec_loss``: binary cross-entropy between the mask and the binarised
  spectrogram (``log-power > mask_th x clip peak``), PIQ's reconstruction;
* ``vq_loss`` and ``commit_loss``: the codebook and commitment losses of
  the VQ bottleneck (always weighted 1, as in PIQ);
* ``fidelity_loss``: cross-entropy of the classifier's raw scores on
  ``mask x log-power`` against its prediction on the clip;
* ``mask_in_loss``: the same cross-entropy with the scores scaled by
  ``logit_scale`` (the classifier's calibrated probabilities), as L-MAC's
  mask-in term;
* ``mask_out_loss``: ``-log(1 - p)``, where ``p`` is the calibrated
  probability of the predicted class on ``(1 - mask) x log-power``: it
  pushes that probability down and is bounded below by 0;
* ``mask_area_loss``: the mask's mean value;
* ``mask_tv_loss``: the mask's mean absolute difference between
  neighbouring frames and bins (total variation), for smooth masks.

A term whose weight is 0 is not computed (the classifier runs on masked
inputs only when a classifier-driven term is on). The hparams name the
weights ``<term>_coef``, e.g. ``mask_in_loss_coef: 4``.
"""

import torch
import torch.nn.functional as F

# Loss terms weighted by an hparam ``<term>_coef`` (0 when absent).
WEIGHTED_TERMS = (
    "rec_loss",
    "fidelity_loss",
    "mask_in_loss",
    "mask_out_loss",
    "mask_area_loss",
    "mask_tv_loss",
)
# Terms always added with weight 1.
VQ_TERMS = ("vq_loss", "commit_loss")
# Terms that need the classifier on masked inputs.
CLASSIFIER_TERMS = ("fidelity_loss", "mask_in_loss", "mask_out_loss")


def reconstruction_loss(mask_logits, logpower, mask_th):
    """PIQ's reconstruction term: BCE against ``logpower > mask_th x peak``.

    Arguments
    ---------
    mask_logits : torch.Tensor
        ``[B, T, F]`` mask logits.
    logpower : torch.Tensor
        ``[B, T, F]`` log-power spectrogram.
    mask_th : float
        Fraction of each clip's peak above which a bin is a target.

    Returns
    -------
    torch.Tensor
        ``[B]``.

    Example
    -------
    >>> logpower = torch.tensor([[[0.0, 10.0]]])
    >>> confident = torch.tensor([[[-20.0, 20.0]]])
    >>> reconstruction_loss(confident, logpower, 0.35) < 1e-6
    tensor([True])
    """
    peak = logpower.amax(dim=(1, 2), keepdim=True)
    target = (logpower > mask_th * peak).to(mask_logits.dtype)
    return F.binary_cross_entropy_with_logits(
        mask_logits, target, reduction="none"
    ).mean(dim=(1, 2))


def vector_quantization_losses(representation, quantized):
    """The codebook and commitment losses, ``[B]`` each.

    Arguments
    ---------
    representation : torch.Tensor
        ``[B, C, H, W]`` PSI's (reduced) input.
    quantized : torch.Tensor
        Its quantized version (carries the codebook's gradient).

    Returns
    -------
    vq_loss, commit_loss : torch.Tensor

    Example
    -------
    >>> vq, commit = vector_quantization_losses(
    ...     torch.ones(1, 2, 1, 1), torch.zeros(1, 2, 1, 1)
    ... )
    >>> print(vq, commit)
    tensor([1.]) tensor([1.])
    """
    vq_loss = (quantized - representation.detach()).pow(2).mean(dim=(1, 2, 3))
    commit_loss = (
        (representation - quantized.detach()).pow(2).mean(dim=(1, 2, 3))
    )
    return vq_loss, commit_loss


def mask_out_loss(logits_out, predicted_class, logit_scale):
    """``-log(1 - p)``: ``p`` the calibrated probability of the predicted
    class on the masked-out input.

    Arguments
    ---------
    logits_out : torch.Tensor
        ``[B, n_classes]`` classifier scores on ``(1 - mask) x log-power``.
    predicted_class : torch.Tensor
        ``[B]`` the class predicted on the clip.
    logit_scale : float
        Scale of the scores before the softmax.

    Returns
    -------
    torch.Tensor
        ``[B]``, 0 when the class is gone.

    Example
    -------
    >>> gone = torch.tensor([[-10.0, 10.0]])
    >>> kept = torch.tensor([[10.0, -10.0]])
    >>> cls = torch.tensor([0])
    >>> mask_out_loss(gone, cls, 1.0) < 1e-6, mask_out_loss(kept, cls, 1.0) > 10
    (tensor([True]), tensor([True]))
    """
    log_probs = F.log_softmax(logit_scale * logits_out, dim=1)
    others = torch.ones_like(log_probs, dtype=torch.bool)
    others[torch.arange(len(predicted_class)), predicted_class] = False
    # log(1 - p) as the log of the other classes' summed probability: exact
    # where p is close to 1, where log1p(-p) loses its precision.
    return -torch.logsumexp(log_probs.masked_fill(~others, -torch.inf), dim=1)


def total_variation(mask):
    """Mean absolute difference between neighbouring frames and bins.

    Arguments
    ---------
    mask : torch.Tensor
        ``[B, T, F]``.

    Returns
    -------
    torch.Tensor
        ``[B]``: 0 for a constant mask.

    Example
    -------
    >>> total_variation(torch.ones(1, 3, 3))
    tensor([0.])
    >>> total_variation(torch.tensor([[[0.0, 1.0], [0.0, 1.0]]]))
    tensor([0.5000])
    """
    along_time = (mask[:, 1:] - mask[:, :-1]).abs().mean(dim=(1, 2))
    along_freq = (mask[:, :, 1:] - mask[:, :, :-1]).abs().mean(dim=(1, 2))
    return (along_time + along_freq) / 2


class InterpreterObjective:
    """The weighted sum of the loss terms whose weight is not 0.

    Arguments
    ---------
    weights : dict
        Term name (one of ``WEIGHTED_TERMS``) to weight; missing terms
        weigh 0.
    mask_th : float
        Threshold of the reconstruction target (``rec_loss``).
    logit_scale : float
        Scale of the classifier's scores in ``mask_in_loss`` and
        ``mask_out_loss``.

    Example
    -------
    >>> objective = InterpreterObjective({"mask_area_loss": 2.0})
    >>> terms = {"mask_area_loss": torch.tensor([0.25, 0.5]),
    ...          "vq_loss": torch.zeros(2), "commit_loss": torch.zeros(2)}
    >>> objective.total(terms)
    tensor([0.5000, 1.0000])
    """

    def __init__(self, weights, mask_th=0.35, logit_scale=1.0):
        unknown = set(weights) - set(WEIGHTED_TERMS)
        if unknown:
            raise ValueError(
                f"unknown loss terms {sorted(unknown)}; the weighted terms "
                f"are {', '.join(WEIGHTED_TERMS)}."
            )
        self.weights = {
            name: float(weight) for name, weight in weights.items() if weight
        }
        self.mask_th = mask_th
        self.logit_scale = logit_scale

    @classmethod
    def from_hparams(cls, hparams):
        """The objective an hparams dict describes (``<term>_coef`` keys).

        Arguments
        ---------
        hparams : dict or namespace
            With optional ``<term>_coef`` weights, ``mask_th`` and
            ``logit_scale``.

        Returns
        -------
        InterpreterObjective

        Example
        -------
        >>> objective = InterpreterObjective.from_hparams(
        ...     {"rec_loss_coef": 1.0, "fidelity_loss_coef": 0.0}
        ... )
        >>> objective.weights
        {'rec_loss': 1.0}
        """
        get = hparams.get if isinstance(hparams, dict) else hparams.__dict__.get
        weights = {name: get(f"{name}_coef", 0.0) for name in WEIGHTED_TERMS}
        return cls(
            weights,
            mask_th=get("mask_th", 0.35),
            logit_scale=get("logit_scale", 1.0),
        )

    @property
    def uses_classifier(self):
        """True when a term runs the classifier on masked inputs."""
        return any(name in self.weights for name in CLASSIFIER_TERMS)

    def terms(self, interpretation, classifier, masked_logits=None):
        """Per-clip values ``[B]`` of the VQ terms and every weighted term.

        Arguments
        ---------
        interpretation : speechbrain_piq.interpretation.Interpretation
            One interpretation pass (with gradients through the mask).
        classifier : callable
            The frozen classifier (log-power to ``ClassifierOutput``).
        masked_logits : tuple of torch.Tensor, optional
            The classifier's scores on ``mask x log-power`` and on
            ``(1 - mask) x log-power``, when the caller already has them
            (validation computes them for its metrics); by default the
            terms that need them run the classifier.

        Returns
        -------
        dict
            Term name to ``[B]`` tensor.
        """
        mask, logpower = interpretation.mask, interpretation.logpower
        terms = dict(
            zip(
                VQ_TERMS,
                vector_quantization_losses(
                    interpretation.representation, interpretation.quantized
                ),
            )
        )
        if "rec_loss" in self.weights:
            terms["rec_loss"] = reconstruction_loss(
                interpretation.mask_logits, logpower, self.mask_th
            )
        if "mask_area_loss" in self.weights:
            terms["mask_area_loss"] = mask.mean(dim=(1, 2))
        if "mask_tv_loss" in self.weights:
            terms["mask_tv_loss"] = total_variation(mask)
        if self.uses_classifier:
            if masked_logits is None:
                masked_logits = self._masked_logits(interpretation, classifier)
            terms.update(
                self._classifier_terms(
                    masked_logits, interpretation.predicted_class
                )
            )
        return terms

    def _masked_logits(self, interpretation, classifier):
        """Scores on the masked-in input and, when a term needs it, on the
        masked-out one (None otherwise), in one classifier pass."""
        mask, logpower = interpretation.mask, interpretation.logpower
        inputs = [mask * logpower]
        if "mask_out_loss" in self.weights:
            inputs.append((1 - mask) * logpower)
        logits = classifier(torch.cat(inputs)).logits.chunk(len(inputs))
        return logits[0], logits[1] if len(logits) > 1 else None

    def _classifier_terms(self, masked_logits, predicted):
        """The terms that score masked inputs."""
        logits_in, logits_out = masked_logits
        terms = {}
        if "fidelity_loss" in self.weights:
            terms["fidelity_loss"] = F.cross_entropy(
                logits_in, predicted, reduction="none"
            )
        if "mask_in_loss" in self.weights:
            terms["mask_in_loss"] = F.cross_entropy(
                self.logit_scale * logits_in, predicted, reduction="none"
            )
        if "mask_out_loss" in self.weights:
            terms["mask_out_loss"] = mask_out_loss(
                logits_out, predicted, self.logit_scale
            )
        return terms

    def total(self, terms):
        """The per-clip objective: VQ terms plus the weighted terms.

        Arguments
        ---------
        terms : dict
            From :meth:`terms`.

        Returns
        -------
        torch.Tensor
            ``[B]``.
        """
        total = sum(terms[name] for name in VQ_TERMS)
        for name, weight in self.weights.items():
            total = total + weight * terms[name]
        return total
