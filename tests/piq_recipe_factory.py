"""Builds tiny, fast inputs for end-to-end runs of ``train_piq.py``.

A 3-class ESC-50 folder from ``make_esc50_folder`` and a random tiny conv2d
classifier saved as the ``.ckpt`` files the recipe's Pretrainer loads, plus
the command line of a CPU run that takes a few seconds.
"""

import os
import sys

import torch
from esc50_factory import make_esc50_folder
from speechbrain.lobes.models.ECAPA_TDNN import Classifier

from speechbrain_piq.classifiers.conv2d import Conv2dAudioClassifier
from speechbrain_piq.classifiers.pretrained import save_pretrained_classifier
from speechbrain_piq.lobes.models.PIQ import Conv2dEncoder_v2

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_PIQ = os.path.join(REPO, "train_piq.py")
PIQ_HPARAMS = os.path.join(REPO, "hparams", "piq.yaml")
N_CLASSES = 3


def import_train_piq():
    """The recipe script as a module, so tests can call ``main(argv)``."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    import train_piq

    return train_piq


def make_tiny_setup(root, clips_per_class_per_fold=1):
    """Writes ``root/data`` (3 classes) and a random tiny classifier.

    Returns ``(root, paths)`` where ``paths`` maps ``embedding_model`` and
    ``classifier`` to their ``.ckpt`` files.
    """
    make_esc50_folder(
        str(root / "data"),
        n_classes=N_CLASSES,
        clips_per_class_per_fold=clips_per_class_per_fold,
    )
    torch.manual_seed(0)
    classifier = Conv2dAudioClassifier(
        Conv2dEncoder_v2(dim=8),
        Classifier(input_size=8, out_neurons=N_CLASSES, lin_blocks=1),
    )
    paths = save_pretrained_classifier(classifier, str(root / "classifier"))
    return root, paths


def tiny_args(root, paths, run_name, *extra, **overrides):
    """Command-line arguments (after ``train_piq.py``) for a fast CPU run
    writing to ``root/run_name``.

    ``overrides`` replace the defaults below (``K=6`` -> ``--K 6``);
    ``extra`` arguments are appended as given.
    """
    options = {
        "data_folder": root / "data",
        "output_folder": root / run_name,
        "embedding_model_path": paths["embedding_model"],
        "classifier_model_path": paths["classifier"],
        "embedding_dim": 8,
        "out_n_neurons": N_CLASSES,
        "K": 12,
        "clip_seconds": 1.0,
        "batch_size": 3,
        "num_workers": 0,
        "number_of_epochs": 1,
        "n_interpretations": 2,
        "interpret_period": 1,
        **overrides,
    }
    args = [PIQ_HPARAMS]
    for name, value in options.items():
        args += [f"--{name}", str(value)]
    return args + list(extra)
