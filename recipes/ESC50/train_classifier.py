#!/usr/bin/env python3
"""Trains an ESC-50 (or ESC-10) audio classifier for PIQ to explain.

    python recipes/ESC50/train_classifier.py \
        recipes/ESC50/hparams/conv2d_classifier.yaml \
        --data_folder=/path/to/ESC-50-master [--subset=esc10]

The backbone is whatever ``audio_classifier`` the hparams build (conv2d,
ViT, FocalNet); the features are the PIQ recipe's log-power STFT, so PIQ sees
exactly the inputs the classifier was trained on. Training keeps the
checkpoint with the lowest validation error (and resumes on rerun), tests
it, writes the test accuracy to ``test_metrics_file`` and the two
``Pretrainer`` files ``embedding_model.ckpt`` and ``classifier.ckpt`` (plus
``label_encoder.txt``) into ``pretrained_folder``.
"""

import json
import math
import os
import sys

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.distributed import if_main_process, run_on_main
from speechbrain.utils.logger import get_logger

from speechbrain_piq.checkpoint_errors import (
    check_resumable,
    clear_checkpoint_errors,
)
from speechbrain_piq.classifiers import save_pretrained_classifier
from speechbrain_piq.dataio.label_encoders import LABEL_ENCODER_FILE
from speechbrain_piq.recipe import check_label_count, prepare_recipe_data
from speechbrain_piq.run_lock import hold_run_lock
from speechbrain_piq.script_errors import run_script

logger = get_logger(__name__)


class ClassifierBrain(sb.Brain):
    """Trains ``audio_classifier`` on log-power spectrograms of clips."""

    def compute_forward(self, batch, stage):
        """Computes the class scores (and the mixup used, in training)."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        logpower, _ = self.modules.compute_features(wavs)
        mix = None
        if stage == sb.Stage.TRAIN:
            logpower, _ = self.hparams.spec_augment(logpower, lens)
            if self.hparams.mixup_alpha > 0:
                logpower, mix = self.mix_batch(logpower)
        return self.modules.audio_classifier(logpower).logits, mix

    def mix_batch(self, logpower):
        """Blends every spectrogram with another one of the batch (mixup).

        Returns the mixed batch and ``(weight, partner)``: example ``i`` is
        ``weight * x[i] + (1 - weight) * x[partner[i]]``.
        """
        alpha = self.hparams.mixup_alpha
        weight = torch.distributions.Beta(alpha, alpha).sample().item()
        partner = torch.randperm(len(logpower), device=logpower.device)
        mixed = weight * logpower + (1 - weight) * logpower[partner]
        return mixed, (weight, partner)

    def compute_objectives(self, predictions, batch, stage):
        """Computes the loss (weighted over both labels under mixup)."""
        logits, mix = predictions
        targets, _ = batch.class_string_encoded
        # b 1 n: SpeechBrain's losses expect one "frame" per clip
        scores = logits.unsqueeze(1)
        loss = self.hparams.compute_cost(scores, targets)
        if mix is not None:
            weight, partner = mix
            partner_loss = self.hparams.compute_cost(scores, targets[partner])
            loss = weight * loss + (1 - weight) * partner_loss
        if stage != sb.Stage.TRAIN:
            self.error_metrics.append(batch.id, scores, targets)
        return loss

    def on_fit_start(self):
        """SpeechBrain's start of fit; a checkpoint that cannot be read
        (e.g. cut short by a killed run) is a clear error."""
        with clear_checkpoint_errors(self.checkpointer):
            super().on_fit_start()

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Loads the best checkpoint, with a clear error if it is damaged."""
        with clear_checkpoint_errors(self.checkpointer):
            super().on_evaluate_start(max_key=max_key, min_key=min_key)

    def on_stage_start(self, stage, epoch=None):
        """Starts a fresh error tracker for validation and test."""
        if stage != sb.Stage.TRAIN:
            self.error_metrics = self.hparams.error_stats()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs, anneals the learning rate, checkpoints, writes test metrics."""
        if stage == sb.Stage.TRAIN:
            self.train_stats = {"loss": stage_loss}
            return
        error = self.error_metrics.summarize("average")
        stats = {"loss": stage_loss, "error": error, "accuracy": 1 - error}
        if stage == sb.Stage.VALID:
            old_lr, new_lr = self.hparams.lr_annealing(epoch)
            sb.nnet.schedulers.update_learning_rate(self.optimizer, new_lr)
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": old_lr},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(meta=stats, min_keys=["error"])
            return
        epoch_loaded = self.hparams.epoch_counter.current
        self.hparams.train_logger.log_stats(
            stats_meta={"epoch loaded": epoch_loaded}, test_stats=stats
        )
        logger.info(
            f"Test accuracy {stats['accuracy']:.4f} on "
            f"{len(self.error_metrics.ids)} clips"
        )
        if if_main_process():
            with open(
                self.hparams.test_metrics_file, "w", encoding="utf-8"
            ) as metrics_file:
                json.dump(
                    {
                        **stats,
                        "n_clips": len(self.error_metrics.ids),
                        "epoch_loaded": epoch_loaded,
                        "subset": self.hparams.subset,
                    },
                    metrics_file,
                    indent=2,
                )


def check_train_batches(n_clips, loader_options, world_size=1):
    """Raises ``ValueError`` when ``drop_last`` would leave no training batch.

    With fewer clips per process than ``batch_size``, ``drop_last: True``
    drops the only, partial batch: every epoch would train nothing and an
    untrained classifier would be published.

    Arguments
    ---------
    n_clips : int
        Clips in the training set.
    loader_options : dict
        The hparams' ``train_dataloader_options``.
    world_size : int
        Processes sharing the training set (DDP); each gets its share.

    Example
    -------
    >>> check_train_batches(40, {"batch_size": 32, "drop_last": True})
    >>> check_train_batches(6, {"batch_size": 32, "drop_last": True})
    Traceback (most recent call last):
    ...
    ValueError: train_dataloader_options has drop_last: True and batch_size: 32, more than the 6 training clips (per process): no batch would be trained; set batch_size to at most 6 or train on more folds.
    """
    per_process = math.ceil(n_clips / world_size)
    batch_size = loader_options.get("batch_size", 1)
    if loader_options.get("drop_last", False) and per_process < batch_size:
        raise ValueError(
            "train_dataloader_options has drop_last: True and batch_size: "
            f"{batch_size}, more than the {per_process} training clips (per "
            "process): no batch would be trained; set batch_size to at most "
            f"{per_process} or train on more folds."
        )


def main(argv):
    """Prepares the data, trains, tests and writes the pretrained files."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    hold_run_lock(hparams["output_folder"])
    check_resumable(hparams["checkpointer"], hparams["output_folder"])
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    datasets, label_encoder = prepare_recipe_data(hparams)
    check_label_count(label_encoder, hparams["out_n_neurons"])
    world_size = 1
    if sb.utils.distributed.is_distributed_initialized():
        world_size = torch.distributed.get_world_size()
    check_train_batches(
        len(datasets["train"]),
        hparams["train_dataloader_options"],
        world_size,
    )

    brain = ClassifierBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        hparams["epoch_counter"],
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=hparams["train_dataloader_options"],
        valid_loader_kwargs=hparams["test_dataloader_options"],
    )
    brain.evaluate(
        datasets["test"],
        min_key="error",
        test_loader_kwargs=hparams["test_dataloader_options"],
    )
    # evaluate() loaded the best validation checkpoint: publish that one
    paths = save_pretrained_classifier(
        hparams["audio_classifier"], hparams["pretrained_folder"]
    )
    run_on_main(
        label_encoder.save,
        args=[os.path.join(hparams["pretrained_folder"], LABEL_ENCODER_FILE)],
    )
    logger.info(f"Pretrained classifier files: {paths}")


if __name__ == "__main__":
    run_script(main, sys.argv[1:])
