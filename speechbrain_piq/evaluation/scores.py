"""Every metric of one method's maps on one batch, one value per clip.

The same definitions as the interpreter ``Brain`` reports (Fid-In, FF,
AI, AD, AG on the classifier's raw scores, as upstream; SPS, COMP), the
probability metrics again with the classifier's ``logit_scale`` applied
(``*_calibrated``: the ECAPA heads score with cosines, whose plain softmax
is nearly flat), the map's mean value (``mask_mean``: its area, which
shows when a score comes from keeping everything), deletion and
insertion AUC (``speechbrain_piq.metrics.insertion_deletion``) and, where
the data has ground truth, localisation
(``speechbrain_piq.metrics.localisation``).
"""

import torch

from speechbrain_piq.interpretation import masked_spectrograms
from speechbrain_piq.metrics.faithfulness import faithfulness_scores
from speechbrain_piq.metrics.insertion_deletion import (
    insertion_deletion_scores,
)
from speechbrain_piq.metrics.localisation import cell_localisation_scores
from speechbrain_piq.metrics.mask_quality import complexity, sparseness

# Probability metrics recomputed with logit_scale.
CALIBRATED = ("faithfulness", "ai", "ad", "ag")


def calibrated_name(name):
    """The key of a probability metric computed with ``logit_scale``.

    Arguments
    ---------
    name : str
        One of ``CALIBRATED``.

    Returns
    -------
    str

    Example
    -------
    >>> calibrated_name("faithfulness"), calibrated_name("ad")
    ('ff_calibrated', 'ad_calibrated')
    """
    short = "ff" if name == "faithfulness" else name
    return f"{short}_calibrated"


@torch.no_grad()
def map_scores(
    audio_classifier,
    interpretation,
    maps,
    ground_truth=None,
    logit_scale=1.0,
    steps=20,
):
    """Scores ``maps`` as explanations of the batch's predictions.

    Arguments
    ---------
    audio_classifier : torch.nn.Module
        The frozen classifier (log-power in, ``ClassifierOutput`` out).
    interpretation : speechbrain_piq.interpretation.Interpretation
        The batch's pass: ``logpower`` (the bins the maps cover),
        ``logits`` and ``predicted_class``.
    maps : torch.Tensor
        ``[B, T, F]`` in [0, 1].
    ground_truth : dict, optional
        ``{"event": [B, T, F] bool, "distractor": [B, T, F] bool or
        None}``: the target's (and a distractor's) cells.
    logit_scale : float
        Multiplies the scores for the ``*_calibrated`` metrics and the
        deletion / insertion curves.
    steps : int
        Steps of the deletion and insertion curves.

    Returns
    -------
    dict of str to torch.Tensor
        Per-clip ``[B]`` scores.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> class Energy(torch.nn.Module):  # class 0 when the clip is loud
    ...     def forward(self, logpower):
    ...         loud = logpower.mean((1, 2))
    ...         return SimpleNamespace(logits=torch.stack([loud, -loud], 1))
    >>> logpower = torch.ones(2, 4, 4)
    >>> found = SimpleNamespace(
    ...     logpower=logpower,
    ...     logits=Energy()(logpower).logits,
    ...     predicted_class=torch.zeros(2, dtype=torch.long),
    ... )
    >>> scores = map_scores(Energy(), found, torch.ones(2, 4, 4), steps=4)
    >>> float(scores["fid_in"][0]), float(scores["mask_mean"][0])
    (1.0, 1.0)
    """
    logpower = interpretation.logpower.float()
    masked_in, masked_out = masked_spectrograms(maps, logpower)
    logits_in, logits_out = (
        audio_classifier(torch.cat([masked_in, masked_out]))
        .logits.float()
        .chunk(2)
    )
    logits = interpretation.logits.float()
    predicted = interpretation.predicted_class
    scores = faithfulness_scores(logits, logits_in, logits_out, predicted)
    calibrated = faithfulness_scores(
        logit_scale * logits,
        logit_scale * logits_in,
        logit_scale * logits_out,
        predicted,
    )
    scores.update(
        {calibrated_name(name): calibrated[name] for name in CALIBRATED}
    )
    scores["sps"] = sparseness(maps)
    scores["comp"] = complexity(maps)
    scores["mask_mean"] = maps.mean(dim=(1, 2))
    curves = insertion_deletion_scores(
        lambda inputs: audio_classifier(inputs).logits,
        logpower,
        maps,
        predicted,
        steps=steps,
        logit_scale=logit_scale,
    )
    scores["insertion_auc"] = curves["insertion_auc"]
    scores["deletion_auc"] = curves["deletion_auc"]
    if ground_truth is not None:
        located = cell_localisation_scores(
            maps, ground_truth["event"], ground_truth.get("distractor")
        )
        scores.update(
            {
                name: located[name]
                for name in (
                    "loc_precision",
                    "loc_recall",
                    "loc_iou",
                    "distractor_mass",
                )
            }
        )
    return scores
