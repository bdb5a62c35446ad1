"""Stage-level means of per-clip metrics, without per-batch device syncs
and across DDP ranks.

SpeechBrain's ``MetricStats`` keeps every score in a Python list, which
costs a device-to-host copy per batch and only sees the clips of its own
rank. ``StageMetrics`` keeps one running sum and count per metric on the
training device and reduces them once, in ``summarize``.
"""

import torch
from speechbrain.utils.distributed import (
    ddp_all_reduce,
    ddp_prevent_block,
)
from speechbrain.utils.logger import get_logger

from speechbrain_piq.metrics.localisation import DISTRACTOR_SCORE_NAMES

logger = get_logger(__name__)


def _as_scores(name, value):
    """Return ``value`` as a detached float 1-D tensor, or raise a clear
    error naming the metric."""
    if isinstance(value, (int, float)):
        value = torch.tensor(float(value))
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"StageMetrics.append: {name!r} must be a tensor of per-clip "
            f"scores [batch] or a scalar, got {type(value).__name__}"
        )
    if value.ndim > 1:
        raise ValueError(
            f"StageMetrics.append: {name!r} must have shape [batch] or be "
            f"a scalar, got shape {list(value.shape)}; flatten or squeeze "
            "it to one score per clip"
        )
    # Sums run in float64 so long stages lose no precision; MPS has no
    # float64, float32 is plenty there.
    dtype = torch.float32 if value.device.type == "mps" else torch.float64
    return value.detach().reshape(-1).to(dtype)


def _reduction_device():
    """Device the process group can reduce on: NCCL needs the current GPU,
    gloo and the others reduce CPU tensors."""
    backend = torch.distributed.get_backend()
    if backend == torch.distributed.Backend.NCCL:
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class StageMetrics:
    """Running means of per-clip metrics over a stage, reduced across ranks.

    ``append`` takes a dict of per-clip scores (name -> ``[batch]`` tensor,
    e.g. from ``faithfulness_scores``, ``sparseness``, ``complexity``,
    ``accuracy``) and adds them to running sums and counts kept on the
    scores' device, so a training loop never waits on the GPU for metrics.
    A 0-d tensor or a number (e.g. a batch-mean loss term) counts as one
    entry, so its stage value is the mean over batches, as SpeechBrain's
    stage loss is.

    NaN entries (a metric undefined for a clip, such as SPS of an all-zero
    mask) are left out of that metric's sum and count. ``summarize`` warns,
    once per metric and stage, how many were left out, so they are never
    silent; for the metrics in ``undefined_ok`` (those of a distractor,
    which most clips lack) the count is only a debug message.

    Arguments
    ---------
    undefined_ok : iterable of str
        Metrics that are undefined for some clips by design.

    ``summarize`` returns ``{name: mean}`` over every entry appended since
    the last ``reset``. When ``torch.distributed`` is initialised, the sums
    and counts of all ranks are added before dividing, so the result equals
    a single-process run over the union of the ranks' data. Every rank must
    call ``summarize`` (it is a collective), but ranks may have appended
    different metrics.

    Example
    -------
    >>> stats = StageMetrics()
    >>> stats.append({"ai": torch.tensor([100.0, 0.0]), "loss": 0.5})
    >>> stats.append({"ai": torch.tensor([100.0]), "loss": torch.tensor(1.5)})
    >>> stats.summarize()
    {'ai': 66.66666666666667, 'loss': 1.0}
    >>> stats.reset()
    >>> stats.summarize()
    {}
    """

    def __init__(self, undefined_ok=DISTRACTOR_SCORE_NAMES):
        self.undefined_ok = frozenset(undefined_ok)
        self.reset()

    def reset(self):
        """Forget every appended score, e.g. at the start of a stage."""
        # name -> [3] tensor: sum of defined scores, their count, NaN count
        self.totals = {}

    def append(self, scores):
        """Add one batch of per-clip scores.

        Arguments
        ---------
        scores : dict
            Metric name -> ``[batch]`` tensor, 0-d tensor or number. Tensors
            may live on any device; no value is read back to the host.
        """
        for name, value in scores.items():
            value = _as_scores(name, value)
            total = self.totals.get(name)
            if total is None:
                total = value.new_zeros(3)
            elif total.device.type == "cpu" and value.device.type != "cpu":
                # A number appended first must not pin the sums to the host:
                # adding GPU scores to them would sync on every batch.
                total = total.to(value.device)
            value = value.to(total.device)
            undefined = value.isnan()
            batch_total = torch.stack(
                [
                    torch.where(undefined, 0.0, value).sum(),
                    (~undefined).sum().to(value.dtype),
                    undefined.sum().to(value.dtype),
                ]
            )
            self.totals[name] = total + batch_total

    def summarize(self):
        """Return the mean of each metric over the stage (and all ranks).

        A metric whose entries were all NaN has a NaN mean, with a warning
        (a debug message for the metrics in ``undefined_ok``).

        Returns
        -------
        dict
            Metric name -> float, names in sorted order.
        """
        names = self._names_on_all_ranks()
        if not names:
            return {}
        totals = self._totals(names)
        totals = ddp_all_reduce(totals, torch.distributed.ReduceOp.SUM)
        summary = {}
        for name, (total, count, nan_count) in zip(names, totals.tolist()):
            log = logger.debug if name in self.undefined_ok else logger.warning
            if nan_count:
                log(
                    "StageMetrics: %d of %d %r scores were NaN (undefined "
                    "for those clips, e.g. an all-zero mask) and are left "
                    "out of its mean",
                    nan_count,
                    nan_count + count,
                    name,
                )
            if not count:
                log(
                    "StageMetrics: no defined %r score this stage; its mean "
                    "is reported as nan",
                    name,
                )
            summary[name] = total / count if count else float("nan")
        return summary

    def _names_on_all_ranks(self):
        """Sorted union of the metric names appended on any rank, so every
        rank reduces the same values in the same order."""
        names = set(self.totals)
        if not ddp_prevent_block():
            gathered = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, sorted(names))
            names = names.union(*gathered)
        return sorted(names)

    def _totals(self, names):
        """Stack the totals of ``names`` into one float64 ``[names, 3]``
        tensor on the reduction device (zeros for names this rank never
        saw)."""
        device = (
            torch.device("cpu") if ddp_prevent_block() else _reduction_device()
        )
        missing = torch.zeros(3, dtype=torch.float64, device=device)
        return torch.stack(
            [
                self.totals[name].to(device, torch.float64)
                if name in self.totals
                else missing
                for name in names
            ]
        )
