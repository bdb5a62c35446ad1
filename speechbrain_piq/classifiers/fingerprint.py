"""Which classifier a PIQ run was trained against, checked on resume and
export.

A run's ``save/`` folder links to the classifier's checkpoints (SpeechBrain's
``Pretrainer`` collects local files as links), so retraining the classifier
in place would silently change what a resumed run trains against and what an
export ships beside an interpreter trained for the old one. The run records
the checksums of the weights it started with in ``classifier_files.json``.
"""

import hashlib
import json
import os

import torch
from speechbrain.utils.distributed import if_main_process
from speechbrain.utils.logger import get_logger

from speechbrain_piq.state_dicts import read_state_dict

logger = get_logger(__name__)

RECORD_FILE = "classifier_files.json"


def weights_checksum(path):
    """The MD5 hex digest of the weights a ``state_dict`` file holds.

    Tensors count by name, dtype, shape and values, not by how the file
    stores them, so a classifier saved again unchanged (e.g. from another
    device) keeps its checksum.

    Arguments
    ---------
    path : str or os.PathLike
        A ``.ckpt`` ``state_dict`` file.

    Returns
    -------
    str

    Example
    -------
    >>> path = getfixture("tmp_path") / "layer.ckpt"
    >>> torch.save({"weight": torch.ones(2)}, path)
    >>> before = weights_checksum(path)
    >>> torch.save({"weight": torch.ones(2).double().float()}, path)
    >>> weights_checksum(path) == before
    True
    """
    digest = hashlib.md5()
    state_dict = read_state_dict(path)
    for name in sorted(state_dict):
        value = state_dict[name]
        digest.update(name.encode())
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()


def record_classifier_files(save_folder, paths, resuming):
    """Records the classifier files a run starts with, or checks that a
    resumed run still has them.

    Arguments
    ---------
    save_folder : str or os.PathLike
        The run's save folder.
    paths : dict
        ``{"embedding_model": path, "classifier": path}`` as collected.
    resuming : bool
        Whether the run has checkpoints to resume: then a recorded file
        that changed is an error; otherwise the record is made anew.

    Raises
    ------
    ValueError
        If a resumed run's classifier files changed.

    Example
    -------
    >>> folder = getfixture("tmp_path")
    >>> ckpt = folder / "classifier.ckpt"
    >>> torch.save({"weight": torch.zeros(2)}, ckpt)
    >>> record_classifier_files(folder, {"classifier": ckpt}, resuming=False)
    >>> torch.save({"weight": torch.ones(2)}, ckpt)
    >>> record_classifier_files(folder, {"classifier": ckpt}, resuming=True)
    Traceback (most recent call last):
    ...
    ValueError: the classifier changed since this run started: .../classifier.ckpt is not the file its checkpoints in ... were trained against. Restore that file (or point at the classifier, or hub revision, the run started with), or give a new output_folder to train an interpreter for the new classifier.
    """
    record_path = os.path.join(save_folder, RECORD_FILE)
    if resuming:
        check_classifier_files(
            save_folder,
            paths,
            f"its checkpoints in {save_folder} were trained against. "
            "Restore that file (or point at the classifier, or hub "
            "revision, the run started with), or give a new output_folder "
            "to train an interpreter for the new classifier.",
        )
        if os.path.isfile(record_path):
            return
        logger.warning(
            f"{save_folder} has checkpoints but no {RECORD_FILE} (made by "
            "speechbrain-piq 0.1.0): the classifier cannot be checked "
            "against the one they were trained with; it is recorded now."
        )
    if if_main_process():
        checksums = {
            name: weights_checksum(path) for name, path in paths.items()
        }
        partial_path = f"{record_path}.partial"
        with open(partial_path, "w", encoding="utf-8") as stream:
            json.dump(checksums, stream, indent=2)
        os.replace(partial_path, record_path)


def check_classifier_files(save_folder, paths, trained_against):
    """Raises unless ``paths`` are the classifier files the run recorded
    (a run without a record, made before there was one, passes).

    Arguments
    ---------
    save_folder : str or os.PathLike
        The run's save folder.
    paths : dict
        ``{name: path}`` of the classifier files.
    trained_against : str
        Ends the message: what the recorded file is, and the way out.

    Raises
    ------
    ValueError
        If a file's checksum differs from the recorded one.

    Example
    -------
    >>> folder = getfixture("tmp_path")
    >>> check_classifier_files(folder, {}, "the interpreter's")
    """
    record_path = os.path.join(save_folder, RECORD_FILE)
    if not os.path.isfile(record_path):
        return
    with open(record_path, encoding="utf-8") as stream:
        recorded = json.load(stream)
    for name, path in paths.items():
        if name in recorded and weights_checksum(path) != recorded[name]:
            raise ValueError(
                "the classifier changed since this run started: "
                f"{path} is not the file {trained_against}"
            )
