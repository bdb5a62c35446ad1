"""Reads hparams written for SpeechBrain's own PIQ recipe
(``recipes/ESC50/interpret``: ``piq.yaml``, ``piq_vit.yaml``,
``piq_focalnet.yaml``) as this recipe's.

Those files name the classifier's Pretrainer ``pretrained_esc50`` and PSI
``psi_model``, give the folds as ``*_fold_nums``, compute the features in the
training script from ``compute_stft`` and evaluate with the training
``dataloader_options``. :func:`from_upstream_hparams` maps each of these to
this recipe's entries (one info line per mapping) and adds the entries those
files do not have, with the values that reproduce their behaviour. Options
this recipe cannot honour stop the run in one ``ValueError`` naming them all;
options it ignores are named in one warning.
"""

import logging
import os
from typing import NamedTuple

from speechbrain.utils.logger import get_logger

from speechbrain_piq.classifiers import (
    Conv2dAudioClassifier,
    FocalNetAudioClassifier,
    ViTAudioClassifier,
)
from speechbrain_piq.features import LogPowerSpectrogram
from speechbrain_piq.training.objectives import WEIGHTED_TERMS

logger = get_logger(__name__)

# An upstream file names its classifier Pretrainer so; ours ``pretrainer``.
UPSTREAM_MARKER = "pretrained_esc50"

RENAMED = {
    "pretrained_esc50": "pretrainer",
    "psi_model": "psi",
    "train_fold_nums": "train_folds",
    "valid_fold_nums": "valid_folds",
    "test_fold_nums": "test_folds",
}

# Classifier adapter for each Hugging Face ``config.model_type``; a backbone
# without a ``config`` is upstream's Conv2dEncoder_v2.
ADAPTERS = {
    None: Conv2dAudioClassifier,
    "vit": ViTAudioClassifier,
    "focalnet": FocalNetAudioClassifier,
}

# Entries upstream's files lack, with the value that does what upstream's
# script does: it always downloads a missing ESC-50, reads all 50 classes
# from whole 5 s clips, computes log1p(|STFT|), trains exact PIQ and tests
# the lowest-loss checkpoint (``evaluate(min_key="loss")``).
DEFAULTS = {
    "subset": "esc50",
    "download": True,
    "clip_seconds": 5.0,
    "use_clip_cache": True,
    "spec_mag_power": 0.5,
    "fidelity_loss_coef": 0.0,
    "best_checkpoint_metric": "loss",
    "classifier_label_encoder_path": None,
}
# Listening outputs written per stage when ``save_interpretations`` is True.
N_INTERPRETATIONS = 4
# This recipe's options that may be given on the command line with an
# upstream file, which does not define them (of the objective's weights, it
# gives rec_loss_coef only).
RECIPE_OPTIONS = (
    *DEFAULTS,
    *(
        f"{term}_coef"
        for term in WEIGHTED_TERMS
        if f"{term}_coef" not in DEFAULTS and term != "rec_loss"
    ),
    "n_interpretations",
    "logit_scale",
    "channels_last",
)

# Entries of upstream's files that the mapping and the recipe read.
REQUIRED = (
    "psi_model",
    "embedding_model",
    "classifier",
    "modules",
    "sample_rate",
    "n_fft",
    "hop_length",
    "win_length",
    "dataloader_options",
    "out_n_neurons",
    "data_folder",
    "output_folder",
    "save_folder",
    "epoch_counter",
    "checkpointer",
    "opt_class",
    "lr_annealing",
    "train_logger",
    "mask_th",
    "use_mask_output",
    "rec_loss_coef",
    "interpret_period",
)
# Options upstream's script reads that this recipe replaces: it writes its
# manifests into save_folder itself.
IGNORED = (
    "train_annotation",
    "valid_annotation",
    "test_annotation",
    "skip_manifest_creation",
)
# Upstream options whose other values have no counterpart here, with the
# value this recipe implements and why.
SUPPORTED_ONLY = {
    "use_vq": (True, "PSI always quantizes its input"),
    "use_melspectra_log1p": (False, "features are log1p(|STFT|)"),
    "use_pretrained": (True, "PIQ explains a trained classifier"),
    "use_mask_output": (True, "PIQ explains with a sigmoid mask"),
}


class MappedHparams(NamedTuple):
    """Hparams in this recipe's layout, with notes on how an upstream file
    was read: ``(logging level, message)`` pairs, logged by :meth:`log`
    once the experiment's logging is set up (before, INFO lines go
    nowhere).

    Example
    -------
    >>> notes = [(logging.INFO, "piq.yaml: psi_model read as psi")]
    >>> hparams, notes = MappedHparams({"K": 8}, notes)
    >>> hparams
    {'K': 8}
    >>> MappedHparams(hparams, notes).log()
    """

    hparams: dict
    notes: list

    def log(self):
        """Logs the notes (one line per mapping, one per warning)."""
        for level, message in self.notes:
            logger.log(level, message)


def is_upstream_layout(hparams):
    """True for hparams laid out as upstream's PIQ recipe lays them out.

    Arguments
    ---------
    hparams : dict
        Loaded hyperparameters.

    Returns
    -------
    bool

    Example
    -------
    >>> is_upstream_layout({"pretrained_esc50": None, "psi_model": None})
    True
    >>> is_upstream_layout({"pretrainer": None, "psi": None})
    False
    """
    return UPSTREAM_MARKER in hparams and "pretrainer" not in hparams


def from_upstream_hparams(hparams, hparams_file="hparams", options=None):
    """Maps hparams of upstream's PIQ recipe to this recipe's.

    The objects upstream's file built (classifier, PSI, Pretrainer,
    Checkpointer, optimizer, loggers) are kept as they are; the renamed ones
    are found under this recipe's names, and the classifier adapter and
    features are built around them. Hparams already in this recipe's
    layout are returned unchanged.

    Arguments
    ---------
    hparams : dict
        Loaded hyperparameters (``load_hyperpyyaml`` output).
    hparams_file : str
        Named in errors.
    options : dict, optional
        This recipe's options given on the command line
        (:func:`speechbrain_piq.upstream_overrides.split_overrides`); they
        replace the defaults.

    Returns
    -------
    MappedHparams
        A new dict with this recipe's keys (upstream's kept too), and the
        notes on the mapping (none for this recipe's own layout).

    Raises
    ------
    ValueError
        Naming every option whose value this recipe cannot honour.

    Example
    -------
    >>> import torch
    >>> from speechbrain_piq.lobes.models.PIQ import Conv2dEncoder_v2
    >>> hparams = dict.fromkeys(REQUIRED)  # upstream files' other entries
    >>> hparams |= {
    ...     "pretrained_esc50": "the Pretrainer", "psi_model": "PSI",
    ...     "embedding_model": Conv2dEncoder_v2(dim=8),
    ...     "classifier": torch.nn.Linear(8, 3),
    ...     "modules": {"psi": "PSI", "compute_stft": None,
    ...                 "compute_istft": None},
    ...     "sample_rate": 16000, "n_fft": 512, "hop_length": 10,
    ...     "win_length": 20, "use_vq": True, "use_mask_output": True,
    ...     "dataloader_options": {"batch_size": 2, "shuffle": True},
    ... }
    >>> ours, notes = from_upstream_hparams(hparams)
    >>> notes[0]
    (20, 'hparams: pretrained_esc50 read as pretrainer')
    >>> ours["pretrainer"], ours["psi"], sorted(ours["modules"])
    ('the Pretrainer', 'PSI', ['compute_features', 'compute_istft', 'psi'])
    >>> type(ours["audio_classifier"]).__name__
    'Conv2dAudioClassifier'
    >>> ours["eval_dataloader_options"]
    {'batch_size': 2, 'shuffle': False}
    >>> from_upstream_hparams({**hparams, "use_vq": False})
    Traceback (most recent call last):
    ...
    ValueError: hparams: use_vq: False is not supported here (PSI always quantizes its input); set use_vq: True.
    >>> from_upstream_hparams({"pretrained_esc50": None, "psi_model": None})
    Traceback (most recent call last):
    ...
    ValueError: hparams is in the layout of upstream's PIQ recipe (it has pretrained_esc50) but lacks embedding_model, ...
    """
    if not is_upstream_layout(hparams):
        return MappedHparams(hparams, [])
    _check_supported(hparams, hparams_file)
    ours = {**hparams, **(options or {})}
    notes = []

    def note(message, level=logging.INFO):
        notes.append((level, f"{hparams_file}: {message}"))

    for upstream_key, our_key in RENAMED.items():
        if upstream_key in hparams and our_key not in hparams:
            ours[our_key] = hparams[upstream_key]
            note(f"{upstream_key} read as {our_key}")
    for key, value in DEFAULTS.items():
        if key not in ours:
            ours[key] = value
            note(f"{key} not given, using {value!r}")
    if "n_interpretations" not in ours:
        saved = hparams.get("save_interpretations", False)
        ours["n_interpretations"] = N_INTERPRETATIONS if saved else 0
        note(
            f"save_interpretations: {saved} read as "
            f"n_interpretations: {ours['n_interpretations']}"
        )
    if "audio_classifier" not in hparams:
        ours["audio_classifier"] = _audio_classifier(hparams, hparams_file)
        note(
            "embedding_model and classifier read as audio_classifier "
            f"({type(ours['audio_classifier']).__name__})"
        )
    if "compute_features" not in hparams:
        ours["compute_features"] = LogPowerSpectrogram(
            sample_rate=hparams["sample_rate"],
            n_fft=hparams["n_fft"],
            hop_length=hparams["hop_length"],
            win_length=hparams["win_length"],
            spec_mag_power=ours["spec_mag_power"],
        )
        note(
            "compute_stft read as compute_features "
            "(log1p(|STFT|), the classifier's input)"
        )
    ours["modules"] = _modules(ours)
    dropped = sorted(set(hparams["modules"]) - set(ours["modules"]))
    if dropped:
        note(f"modules {dropped} replaced by compute_features")
    if "eval_dataloader_options" not in hparams:
        ours["eval_dataloader_options"] = {
            **hparams["dataloader_options"],
            "shuffle": False,
        }
        note("eval_dataloader_options are dataloader_options without shuffling")
    ignored = _ignored(hparams)
    if ignored:
        note(ignored, logging.WARNING)
    partition = _partition_mismatch(ours)
    if partition:
        note(partition, logging.WARNING)
    return MappedHparams(ours, notes)


def _check_supported(hparams, hparams_file):
    """One ``ValueError`` naming every option this recipe cannot honour."""
    missing = [key for key in REQUIRED if key not in hparams]
    if "compute_istft" not in hparams.get("modules", {}):
        missing.append("modules: compute_istft")
    if missing:
        raise ValueError(
            f"{hparams_file} is in the layout of upstream's PIQ recipe "
            f"(it has {UPSTREAM_MARKER}) but lacks {', '.join(missing)}; "
            "start from upstream's recipes/ESC50/interpret/hparams/piq.yaml "
            "or from this recipe's hparams/piq.yaml."
        )
    problems = [
        f"{key}: {hparams[key]} is not supported here ({why}); "
        f"set {key}: {value}"
        for key, (value, why) in SUPPORTED_ONLY.items()
        if key in hparams and bool(hparams[key]) != value
    ]
    if "return_reps" in hparams:
        problems.append(
            "return_reps is not supported here (the classifier adapter "
            "gives the representation); remove it"
        )
    audio = hparams.get("audio_data_folder")
    data = hparams.get("data_folder")
    if audio is not None and data is not None:
        expected = os.path.join(str(data), "audio")
        if os.path.normpath(str(audio)) != os.path.normpath(expected):
            problems.append(
                f"audio_data_folder: {audio} is not supported here (the "
                f"clips are read from <data_folder>/audio, {expected}); "
                "point data_folder at the folder holding audio/ and meta/"
            )
    if problems:
        raise ValueError(f"{hparams_file}: " + "; ".join(problems) + ".")


def _audio_classifier(hparams, hparams_file):
    """The adapter for upstream's ``embedding_model`` and ``classifier``."""
    embedding_model = hparams["embedding_model"]
    config = getattr(embedding_model, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type not in ADAPTERS:
        raise ValueError(
            f"{hparams_file}: embedding_model is a {model_type!r} model; "
            "upstream's PIQ recipe and this one explain conv2d, vit and "
            "focalnet classifiers only"
        )
    return ADAPTERS[model_type](embedding_model, hparams["classifier"])


def _modules(hparams):
    """The Brain's modules: PSI, the features and the inverse STFT."""
    return {
        "psi": hparams["psi"],
        "compute_features": hparams["compute_features"],
        "compute_istft": hparams["modules"]["compute_istft"],
    }


def _ignored(hparams):
    """The warning naming the given options this recipe does not read, or
    None."""
    ignored = [key for key in IGNORED if key in hparams]
    if not ignored:
        return None
    return (
        f"{', '.join(ignored)} are ignored: this recipe writes its "
        "manifests into save_folder, and reuses them only while the data "
        "and the options are unchanged."
    )


def _partition_mismatch(hparams):
    """The warning for PSI keys split among another number of classes than
    the classifier has, or None: upstream's files give PSI no
    ``numclasses``, so the lobe's default (50, ESC-50's) holds for any
    ``out_n_neurons``."""
    codebook = getattr(hparams["psi"], "codebook", None)
    numclasses = getattr(codebook, "numclasses", None)
    n_classes = hparams.get("out_n_neurons")
    if numclasses is None or n_classes is None or numclasses == n_classes:
        return None
    return (
        f"psi_model partitions its keys among {numclasses} classes but "
        f"out_n_neurons is {n_classes}: only the keys of the first "
        f"{n_classes} are used; add numclasses: !ref <out_n_neurons> to "
        "psi_model to use them all."
    )
