"""Which checkpoint a run keeps as its interpreter: the test stage's and
the export's choice, from the validation metrics in each checkpoint's meta.

``best_checkpoint_metric`` names the rule:

* ``faithful_sparsity`` (the default): Fid-In x SPS, the share of clips
  whose prediction the masked-in input keeps times the masks' sparseness.
  A mask that keeps everything (SPS 0) scores 0 however faithful it is,
  and one that removes the evidence scores its low Fid-In, so neither
  trivial mask can win; ties go to the lower loss.
* ``fid_in``: the highest Fid-In (ties: lowest loss). An early epoch whose
  mask is nearly uniform often wins it.
* ``loss``: the lowest validation loss.
"""

# What ``best_checkpoint_metric`` may name.
CHECKPOINT_METRICS = ("faithful_sparsity", "fid_in", "loss")
DEFAULT_CHECKPOINT_METRIC = "faithful_sparsity"
# The rule of checkpoints saved before ``selected_by`` was recorded.
LEGACY_CHECKPOINT_METRIC = "fid_in"


def validation_score(stats, metric):
    """The score ``metric`` ranks by (larger is better), from a stage's
    validation statistics.

    Arguments
    ---------
    stats : dict
        Validation statistics (``fid_in``, ``sps``, ``loss``).
    metric : str
        One of ``CHECKPOINT_METRICS``.

    Returns
    -------
    float

    Example
    -------
    >>> validation_score({"fid_in": 0.8, "sps": 0.5, "loss": 1.0},
    ...                  "faithful_sparsity")
    0.4
    >>> validation_score({"fid_in": 0.8, "sps": 0.5, "loss": 1.0}, "loss")
    -1.0
    """
    if metric == "loss":
        return -stats["loss"]
    if metric == "fid_in":
        return stats["fid_in"]
    if metric == "faithful_sparsity":
        return stats["fid_in"] * stats["sps"]
    raise ValueError(
        f"best_checkpoint_metric is {metric!r}; use one of "
        f"{', '.join(CHECKPOINT_METRICS)}."
    )


def checkpoint_key(checkpoint, metric=None):
    """Checkpoint importance under ``metric``: its score, ties broken by
    the lower loss.

    Arguments
    ---------
    checkpoint : speechbrain.utils.checkpoints.Checkpoint
        A checkpoint whose meta holds its validation statistics.
    metric : str, optional
        One of ``CHECKPOINT_METRICS``; by default the one the checkpoint
        was saved under (its meta's ``selected_by``). Rank all the
        checkpoints of a run by one metric: keys of different metrics do
        not compare.

    Returns
    -------
    tuple
        Larger means better.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> uniform = SimpleNamespace(meta={"fid_in": 0.825, "sps": 0.017,
    ...                                 "loss": 1.0})
    >>> sparse = SimpleNamespace(meta={"fid_in": 0.8, "sps": 0.6,
    ...                                "loss": 1.2})
    >>> max([uniform, sparse], key=checkpoint_key) is sparse
    True
    >>> max([uniform, sparse], key=lambda c: checkpoint_key(c, "fid_in")) is uniform
    True
    """
    if metric is None:
        metric = checkpoint.meta.get("selected_by", LEGACY_CHECKPOINT_METRIC)
    return validation_score(checkpoint.meta, metric), -checkpoint.meta["loss"]


def has_validation_metrics(checkpoint):
    """True for end-of-epoch checkpoints that carry validation metrics."""
    return "fid_in" in checkpoint.meta
