#!/usr/bin/env python3
"""Trains a PIQ interpreter for a frozen ESC-50 audio classifier.

    python train_piq.py hparams/piq.yaml --data_folder=/path/to/ESC-50-master
    python train_piq.py hparams/piq_vit.yaml --data_folder=... --K 512

Upstream SpeechBrain's ``recipes/ESC50/interpret/hparams`` files run too
(docs/upstream_compatibility.md).

Prepares the data (main process only), loads the classifier, trains PSI,
then evaluates the best checkpoint on the test folds, writing
``test_metrics.json`` and listening outputs under ``output_folder``.
"""

import sys

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_piq.brain import PIQBrain
from speechbrain_piq.checkpoint_errors import check_resumable
from speechbrain_piq.classifiers.fingerprint import record_classifier_files
from speechbrain_piq.classifiers.pretrained import load_pretrained_classifier
from speechbrain_piq.recipe import (
    check_label_count,
    check_recipe_hparams,
    classifier_label_encoder_file,
    prepare_recipe_data,
    tensorboard_logger,
)
from speechbrain_piq.run_lock import hold_run_lock
from speechbrain_piq.script_errors import run_script
from speechbrain_piq.upstream_checkpoints import read_upstream_checkpoints
from speechbrain_piq.upstream_hparams import from_upstream_hparams
from speechbrain_piq.upstream_overrides import split_overrides


def main(argv):
    """Runs the recipe for the command-line arguments ``argv``."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    overrides, recipe_options = split_overrides(hparams_file, overrides)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    mapped = from_upstream_hparams(hparams, hparams_file, recipe_options)
    hparams = mapped.hparams
    hold_run_lock(hparams["output_folder"])
    mapped.notes.extend(read_upstream_checkpoints(hparams["checkpointer"]))
    check_recipe_hparams(hparams)
    check_resumable(hparams["checkpointer"], hparams["output_folder"])
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    mapped.log()  # now that the experiment's logging is set up
    classifier_files = load_pretrained_classifier(
        hparams["pretrainer"],
        hparams["audio_classifier"],
        hparams["out_n_neurons"],
    )
    record_classifier_files(
        hparams["save_folder"],
        classifier_files,
        resuming=hparams["checkpointer"].find_checkpoint() is not None,
    )
    classifier_labels = classifier_label_encoder_file(hparams)
    datasets, label_encoder = prepare_recipe_data(hparams, classifier_labels)
    hparams["label_encoder"] = label_encoder
    check_label_count(
        label_encoder, hparams["out_n_neurons"], classifier_labels
    )
    hparams["tensorboard_logger"] = tensorboard_logger(hparams)

    brain = PIQBrain(
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
        train_loader_kwargs=hparams["dataloader_options"],
        valid_loader_kwargs=hparams["eval_dataloader_options"],
    )
    brain.evaluate(
        datasets["test"], test_loader_kwargs=hparams["eval_dataloader_options"]
    )
    if sb.utils.distributed.is_distributed_initialized():
        # A process group still alive at exit can abort a rank (gloo:
        # "terminate called without an active exception") while the others
        # finish, failing the whole torchrun job.
        sb.utils.distributed.ddp_barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    run_script(main, sys.argv[1:])
