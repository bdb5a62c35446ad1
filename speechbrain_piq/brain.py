"""The interpreter ``Brain``: trains PSI to explain a frozen classifier.

Per batch: log-power STFT, the frozen classifier (no autograd), PSI on the
classifier's representation with the *predicted* class, and a sigmoid mask.
The loss is the weighted sum of the terms the hparams switch on
(``speechbrain_piq.training.objectives``); the checkpoint kept is chosen
by ``speechbrain_piq.training.selection``. Training steps compute nothing
the loss does not use; the faithfulness, mask-quality and localisation
metrics run in VALID and TEST, vectorised on the training device and
reduced across DDP ranks.
"""

import json
import logging
import os

import speechbrain as sb
import torch
import yaml
from speechbrain.core import INTRA_EPOCH_CKPT_FLAG
from speechbrain.utils.distributed import (
    if_main_process,
    is_distributed_initialized,
)

from speechbrain_piq.checkpoint_errors import clear_checkpoint_errors
from speechbrain_piq.interpretation import interpret, masked_spectrograms
from speechbrain_piq.interpretation_outputs import write_interpretations
from speechbrain_piq.metrics.faithfulness import faithfulness_scores
from speechbrain_piq.metrics.localisation import localisation_scores
from speechbrain_piq.metrics.mask_quality import complexity, sparseness
from speechbrain_piq.metrics.stage_stats import StageMetrics
from speechbrain_piq.training.objectives import InterpreterObjective
from speechbrain_piq.training.selection import (
    DEFAULT_CHECKPOINT_METRIC,
    checkpoint_key,
    has_validation_metrics,
    validation_score,
)

logger = logging.getLogger(__name__)


# The key of test_metrics.json naming the checkpoint its metrics describe.
TESTED_CHECKPOINT_KEY = "checkpoint"


@sb.utils.checkpoints.register_checkpoint_hooks
class PIQBrain(sb.Brain):
    """Trains a PSI interpreter (``modules.psi``) against the frozen
    ``hparams.audio_classifier``.

    Expected hparams: ``audio_classifier`` (a
    ``speechbrain_piq.classifiers`` adapter), ``compute_features``,
    ``compute_istft``, ``mask_th``, ``label_encoder``, ``epoch_counter``,
    ``lr_annealing``, ``train_logger``, ``output_folder``,
    ``interpret_period``, ``n_interpretations``, ``sample_rate``; optional
    the loss weights ``<term>_coef`` (``training.objectives``),
    ``tensorboard_logger``, ``best_checkpoint_metric``
    (``training.selection``; ``faithful_sparsity`` by default),
    ``logit_scale`` (scales the classifier's scores in the loss terms that
    use probabilities and in the PNG titles; the metrics use the raw
    scores, as upstream) and ``channels_last``
    (True: PSI and classifier weights in channels-last memory format, for
    faster convolutions on the CPU and, with ``--precision bf16``, on the
    GPU).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.hparams.audio_classifier.to(self.device).freeze()
        if getattr(self.hparams, "channels_last", False):
            # Before on_fit_start, so that compilation sees the final layout.
            for module in (self.modules.psi, self.hparams.audio_classifier):
                module.to(memory_format=torch.channels_last)
        self.objective = InterpreterObjective.from_hparams(self.hparams)
        self.stage_metrics = StageMetrics()
        self.skipped_batches = 0
        self.nonfinite_losses_in_stage = 0
        self.interpretations_written = 0
        self.tested_checkpoint = None

    # -- per batch ---------------------------------------------------------
    def compute_forward(self, batch, stage):
        """Classifies the clips and computes the PSI masks."""
        batch = batch.to(self.device)
        wavs, _ = batch.sig
        return interpret(
            self.modules.compute_features,
            self.hparams.audio_classifier,
            self.modules.psi,
            wavs,
        )

    def compute_objectives(self, predictions, batch, stage):
        """The objective's loss; in VALID/TEST also the stage metrics and
        listening outputs."""
        classifier = self.hparams.audio_classifier
        if stage == sb.Stage.TRAIN:
            terms = self.objective.terms(predictions, classifier)
            return self.objective.total(terms).mean()
        # The metrics and the loss terms share one pass on the masked inputs.
        masked_logits = self._masked_logits(predictions)
        terms = self.objective.terms(predictions, classifier, masked_logits)
        self._update_metrics(predictions, batch, terms, masked_logits)
        if self._writes_interpretations(stage):
            self._write_interpretations(predictions, batch, stage)
        return self.objective.total(terms).mean()

    @torch.no_grad()
    def _masked_logits(self, interpretation):
        """The classifier's scores on the masked-in and masked-out inputs,
        in one pass."""
        masked_in, masked_out = masked_spectrograms(
            interpretation.mask, interpretation.logpower
        )
        return self.hparams.audio_classifier(
            torch.cat([masked_in, masked_out])
        ).logits.chunk(2)

    @torch.no_grad()
    def _update_metrics(self, interpretation, batch, terms, masked_logits):
        """Adds this batch's per-clip metrics to the stage's running sums."""
        mask = interpretation.mask
        logits_in, logits_out = masked_logits
        labels = batch.class_string_encoded.data.view(-1)
        scores = faithfulness_scores(
            interpretation.logits,
            logits_in,
            logits_out,
            interpretation.predicted_class,
        )
        scores["sps"] = sparseness(mask)
        scores["comp"] = complexity(mask)
        scores["accuracy"] = (interpretation.predicted_class == labels).float()
        scores.update({name: term.detach() for name, term in terms.items()})
        if hasattr(batch, "event_region"):
            scores.update(
                localisation_scores(
                    mask,
                    batch.event_region.data,
                    batch.distractor_region.data
                    if hasattr(batch, "distractor_region")
                    else None,
                    sample_rate=self.hparams.sample_rate,
                    hop_length_ms=self.hparams.hop_length,
                    n_fft=self.hparams.n_fft,
                )
            )
        self.stage_metrics.append(scores)

    # -- checkpointed state ------------------------------------------------
    @sb.utils.checkpoints.mark_as_saver
    def _save(self, path):
        """SpeechBrain's training state plus the counts of skipped batches
        and of this stage's non-finite losses, so that a resumed run keeps
        counting. The file is replaced whole, so a run killed while writing
        it leaves the previous version."""
        partial = f"{path}.partial"
        super()._save(partial)
        with open(partial, encoding="utf-8") as fin:
            state = yaml.safe_load(fin)
        state["skipped_batches"] = self.skipped_batches
        state["nonfinite_losses_in_stage"] = self.nonfinite_losses_in_stage
        with open(partial, "w", encoding="utf-8") as fout:
            fout.write(yaml.dump(state))
        os.replace(partial, path)

    @sb.utils.checkpoints.mark_as_loader
    def _recover(self, path, end_of_epoch):
        """Restores what :meth:`_save` wrote (counts of 0 for checkpoints
        written before they were saved)."""
        super()._recover(path, end_of_epoch)
        with open(path, encoding="utf-8") as fin:
            state = yaml.safe_load(fin)
        self.skipped_batches = state.get("skipped_batches", 0)
        self.nonfinite_losses_in_stage = state.get(
            "nonfinite_losses_in_stage", 0
        )

    # -- skipping bad batches ---------------------------------------------
    def _is_finite_batch(self, batch):
        """False (and logged, counted) when the batch's audio has NaN/inf.

        Under DDP every rank skips when any rank's batch is not finite:
        a rank that went on alone would wait forever in the gradient
        all-reduce.
        """
        finite = torch.isfinite(batch.sig.data).all()
        if is_distributed_initialized():
            flag = finite.to(device=self.device, dtype=torch.float32)
            torch.distributed.all_reduce(
                flag, op=torch.distributed.ReduceOp.MIN
            )
            finite = flag.bool()
        if finite:
            return True
        self.skipped_batches += 1
        logger.warning(
            "Skipping batch %s: its audio (or another DDP rank's) contains "
            "NaN or inf (%d batch(es) skipped so far).",
            list(batch.id),
            self.skipped_batches,
        )
        return False

    def fit_batch(self, batch):
        """One training step, skipped when the batch is not finite.

        A skipped batch's loss is NaN, which :meth:`update_average` leaves
        out of the stage loss.
        """
        if not self._is_finite_batch(batch):
            return torch.tensor(float("nan"))
        return super().fit_batch(batch)

    def evaluate_batch(self, batch, stage):
        """One evaluation step, skipped (NaN loss, left out of the stage
        loss) when the batch is not finite."""
        if not self._is_finite_batch(batch):
            return torch.tensor(float("nan"))
        return super().evaluate_batch(batch, stage)

    def update_average(self, loss, avg_loss):
        """Running mean of the stage's finite batch losses.

        SpeechBrain's divides by every batch so far, so each skipped
        (NaN-loss) batch would pull the stage loss towards 0, and with it
        what checkpoint selection by loss sees.

        Arguments
        ---------
        loss : torch.Tensor
            This batch's loss.
        avg_loss : float
            The mean so far.

        Returns
        -------
        float
        """
        if not torch.isfinite(loss):
            self.nonfinite_losses_in_stage += 1
            return avg_loss
        finite_batches = self.step - self.nonfinite_losses_in_stage
        return avg_loss + (float(loss) - avg_loss) / finite_batches

    # -- stages -------------------------------------------------------------
    def on_stage_start(self, stage, epoch=None):
        """Resets the running metrics and the interpretation counter, and
        the non-finite loss count unless the stage resumes mid-epoch."""
        self.stage_metrics.reset()
        self.interpretations_written = 0
        if self.step == 0:
            self.nonfinite_losses_in_stage = 0

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs the stage, anneals the LR, checkpoints, writes test metrics."""
        if stage == sb.Stage.TRAIN:
            self.train_stats = {"loss": stage_loss}
            return
        stats = {"loss": stage_loss, **self.stage_metrics.summarize()}
        stats["skipped_batches"] = self.skipped_batches
        if stage == sb.Stage.VALID:
            # The schedule follows the selection score (it minimises); with
            # fid_in, as upstream.
            old_lr, new_lr = self.hparams.lr_annealing(
                [self.optimizer],
                epoch,
                -validation_score(stats, self._best_checkpoint_metric),
            )
            sb.nnet.schedulers.update_learning_rate(self.optimizer, new_lr)
            self._log(
                {"epoch": epoch, "lr": old_lr}, self.train_stats, stats, None
            )
            self.checkpointer.save_and_keep_only(
                meta={**stats, "selected_by": self._best_checkpoint_metric},
                importance_keys=[self._checkpoint_importance],
                ckpt_predicate=has_validation_metrics,
            )
            # The epoch's intra-epoch checkpoint is superseded; SpeechBrain's
            # own end-of-epoch save, which ranks every checkpoint, would
            # delete it too.
            self.checkpointer.delete_checkpoints(
                num_to_keep=0,
                ckpt_predicate=lambda checkpoint: (
                    INTRA_EPOCH_CKPT_FLAG in checkpoint.meta
                ),
            )
        else:
            self._log(
                {"Epoch loaded": self.hparams.epoch_counter.current},
                None,
                None,
                stats,
            )
            if if_main_process():
                path = os.path.join(
                    self.hparams.output_folder, "test_metrics.json"
                )
                # NaN (a metric no clip defines) becomes JSON null.
                stats = {k: None if v != v else v for k, v in stats.items()}
                # Which checkpoint these describe: an export checks that
                # they are its own.
                tested = self.tested_checkpoint
                stats[TESTED_CHECKPOINT_KEY] = tested and tested.path.name
                with open(path, "w", encoding="utf-8") as out:
                    json.dump(stats, out, indent=2)

    @property
    def _best_checkpoint_metric(self):
        """What ranks this run's checkpoints (``CHECKPOINT_METRICS``)."""
        return getattr(
            self.hparams, "best_checkpoint_metric", DEFAULT_CHECKPOINT_METRIC
        )

    def _checkpoint_importance(self, checkpoint):
        """Ranks every checkpoint by this run's metric, also those saved
        before the run switched ``best_checkpoint_metric``."""
        return checkpoint_key(checkpoint, self._best_checkpoint_metric)

    def _log(self, meta, train_stats, valid_stats, test_stats):
        """Logs to the file logger and, when configured, TensorBoard."""
        loggers = [self.hparams.train_logger]
        if getattr(self.hparams, "tensorboard_logger", None) is not None:
            loggers.append(self.hparams.tensorboard_logger)
        for train_logger in loggers:
            train_logger.log_stats(
                stats_meta=meta,
                train_stats=train_stats,
                valid_stats=valid_stats,
                test_stats=test_stats,
            )

    def on_fit_start(self):
        """SpeechBrain's start of fit; a checkpoint that cannot be read
        (e.g. cut short by a killed run) is a clear error."""
        with clear_checkpoint_errors(self.checkpointer):
            super().on_fit_start()

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Loads the best checkpoint under ``best_checkpoint_metric``."""
        if self.checkpointer is not None:
            with clear_checkpoint_errors(self.checkpointer):
                self.tested_checkpoint = self.checkpointer.recover_if_possible(
                    importance_key=self._checkpoint_importance,
                    ckpt_predicate=has_validation_metrics,
                )

    # -- listening outputs ---------------------------------------------------
    def _writes_interpretations(self, stage):
        """Interpretations are written at TEST and every
        ``interpret_period`` validation epochs, for the first
        ``n_interpretations`` clips."""
        if self.interpretations_written >= self.hparams.n_interpretations:
            return False
        if stage == sb.Stage.TEST:
            return True
        epoch = self.hparams.epoch_counter.current
        return epoch % self.hparams.interpret_period == 0

    def _write_interpretations(self, interpretation, batch, stage):
        """Writes wav + PNG for this batch's first clips (main process)."""
        count = min(
            self.hparams.n_interpretations - self.interpretations_written,
            len(batch.id),
        )
        self.interpretations_written += count
        if not if_main_process():
            return
        name = (
            "test"
            if stage == sb.Stage.TEST
            else f"valid_epoch{self.hparams.epoch_counter.current}"
        )
        write_interpretations(
            os.path.join(self.hparams.output_folder, "interpretations", name),
            interpretation,
            clip_ids=list(batch.id)[:count],
            waveforms=batch.sig.data[:count],
            istft=self.modules.compute_istft,
            label_encoder=self.hparams.label_encoder,
            sample_rate=self.hparams.sample_rate,
            logit_scale=getattr(self.hparams, "logit_scale", 1.0),
        )
