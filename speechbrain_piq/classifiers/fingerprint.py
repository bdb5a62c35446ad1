"""Which classifier a PIQ run was trained against, checked on resume and
export.

A run's ``save/`` folder links to the classifier's checkpoints (SpeechBrain's
``Pretrainer`` collects local files as links), so retraining the classifier
in place would silently change what a resumed run trains against and what an
export ships beside an interpreter trained for the old one. The run records
the checksums of the files it started with in ``classifier_files.json``.
"""

import hashlib
import json
import os

from speechbrain.utils.distributed import if_main_process

RECORD_FILE = "classifier_files.json"
CHUNK_BYTES = 1 << 20


def file_checksum(path):
    """The MD5 hex digest of a file, read in chunks.

    Arguments
    ---------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str

    Example
    -------
    >>> path = getfixture("tmp_path") / "empty.ckpt"
    >>> path.touch()
    >>> file_checksum(path)
    'd41d8cd98f00b204e9800998ecf8427e'
    """
    digest = hashlib.md5()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(chunk)
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
    >>> _ = ckpt.write_bytes(b"trained")
    >>> record_classifier_files(folder, {"classifier": ckpt}, resuming=False)
    >>> _ = ckpt.write_bytes(b"trained again")
    >>> record_classifier_files(folder, {"classifier": ckpt}, resuming=True)
    Traceback (most recent call last):
    ...
    ValueError: the classifier changed since this run started: .../classifier.ckpt is not the file its checkpoints in ... were trained against. Restore that file, or give a new output_folder to train an interpreter for the new classifier.
    """
    if resuming:
        check_classifier_files(
            save_folder,
            paths,
            f"its checkpoints in {save_folder} were trained against. "
            "Restore that file, or give a new output_folder to train an "
            "interpreter for the new classifier.",
        )
        if os.path.isfile(os.path.join(save_folder, RECORD_FILE)):
            return
    if if_main_process():
        checksums = {name: file_checksum(path) for name, path in paths.items()}
        with open(os.path.join(save_folder, RECORD_FILE), "w") as stream:
            json.dump(checksums, stream, indent=2)


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
    with open(record_path) as stream:
        recorded = json.load(stream)
    for name, path in paths.items():
        if name in recorded and file_checksum(path) != recorded[name]:
            raise ValueError(
                "the classifier changed since this run started: "
                f"{path} is not the file {trained_against}"
            )
