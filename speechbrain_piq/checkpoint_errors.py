"""Clear errors for recipe checkpoints that cannot be read or resumed.

A run killed while writing a checkpoint, or a damaged disk, leaves a file
that its loader rejects deep inside torch, yaml or SpeechBrain
(``PytorchStreamReader failed reading zip archive``, ``invalid literal for
int()``, ``'NoneType' object is not subscriptable``...).
:func:`clear_checkpoint_errors` names the file, its checkpoint folder and
the way out instead; nothing is deleted, so no training is lost.
:func:`check_resumable` refuses, before anything is written, a rerun whose
hparams build modules that the run's checkpoints do not fit (another
``K`` or ``embedding_dim``).
"""

import contextlib
import os

import torch
import yaml
from speechbrain.utils.checkpoints import METAFNAME

from speechbrain_piq.state_dicts import check_state_dict_fits, read_state_dict

# Where SpeechBrain's Checkpointer calls each recoverable's load hook; its
# locals name the checkpoint and the file being read.
LOAD_HOOKS_FRAME = "_call_load_hooks"
# Where it reads each checkpoint's CKPT.yaml; its locals name the folder.
METADATA_FRAME = "_construct_checkpoint_objects"
# A file read fine whose weights do not fit the module or optimizer (e.g. a
# rerun with another K) fails in these, and is not "damaged".
FIT_CHECK_FILES = (
    os.path.join("torch", "nn", "modules", "module.py"),
    os.path.join("torch", "optim", "optimizer.py"),
)


@contextlib.contextmanager
def clear_checkpoint_errors(checkpointer=None):
    """Re-raises a failure to read a checkpoint file as a ``RuntimeError``
    that names the file and how to resume without it.

    Errors raised anywhere else, including weights that were read but do
    not fit the module or optimizer, pass through unchanged.

    Arguments
    ---------
    checkpointer : speechbrain.utils.checkpoints.Checkpointer, optional
        When given, each checkpoint's ``CKPT.yaml`` is checked first (an
        empty one reads as no metadata, and SpeechBrain would fail later
        on, far from the file).

    Example
    -------
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> folder = getfixture("tmp_path")
    >>> layer = torch.nn.Linear(2, 2)
    >>> checkpointer = Checkpointer(folder, {"layer": layer})
    >>> checkpoint = checkpointer.save_checkpoint()
    >>> _ = (checkpoint.path / "layer.ckpt").write_bytes(b"cut short")
    >>> with clear_checkpoint_errors(checkpointer):
    ...     checkpointer.recover_if_possible()
    Traceback (most recent call last):
    ...
    RuntimeError: could not read .../layer.ckpt (...): the checkpoint CKPT+... is truncated or damaged. Move that folder out of ... and rerun to resume from the checkpoint before it; the other checkpoints are untouched.
    """
    try:
        if checkpointer is not None:
            _check_metadata(checkpointer)
        yield
    except Exception as error:
        damaged = _damaged_file(error)
        if damaged is None:
            raise
        raise _damaged_error(*damaged, error) from error


def check_resumable(checkpointer, output_folder):
    """Raises ``ValueError`` when the newest checkpoint holds weights that
    do not fit the modules these hparams build (e.g. a rerun with another
    ``K``). Call it before ``create_experiment_directory``, which would
    replace the run's ``hyperparams.yaml`` with the new hparams.

    Arguments
    ---------
    checkpointer : speechbrain.utils.checkpoints.Checkpointer
        The recipe's checkpointer, its recoverables built from the hparams.
    output_folder : str
        The run's folder (named in the message).

    Example
    -------
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> folder = getfixture("tmp_path")
    >>> def checkpointer_of(psi):
    ...     return Checkpointer(folder, {"psi": psi})
    >>> _ = checkpointer_of(torch.nn.Linear(2, 4)).save_checkpoint()
    >>> check_resumable(checkpointer_of(torch.nn.Linear(2, 4)), "run")
    >>> check_resumable(checkpointer_of(torch.nn.Linear(2, 3)), "run")
    Traceback (most recent call last):
    ...
    ValueError: .../psi.ckpt does not fit the psi these hparams build (missing: []; shape mismatches: ['weight: (4, 2) in the checkpoint, (3, 2) in the model', ...]); the run in run was trained with other hparams (its hyperparams.yaml): rerun with those to resume it, or give a new output_folder to train anew.
    """
    with clear_checkpoint_errors(checkpointer):
        checkpoint = checkpointer.find_checkpoint()
    if checkpoint is None:
        return
    for name, recoverable in checkpointer.recoverables.items():
        path = checkpoint.paramfiles.get(name)
        if not isinstance(recoverable, torch.nn.Module) or path is None:
            continue
        try:
            state_dict = read_state_dict(path)
        except (OSError, ValueError):
            continue  # missing or damaged: resuming names the file
        check_state_dict_fits(
            recoverable,
            state_dict,
            path,
            f"the {name} these hparams build",
            f"the run in {output_folder} was trained with other hparams "
            "(its hyperparams.yaml): rerun with those to resume it, or give "
            "a new output_folder to train anew.",
        )


def _check_metadata(checkpointer):
    """Raises like a damaged file when a ``CKPT.yaml`` holds no mapping."""
    for checkpoint in checkpointer.list_checkpoints():
        if not isinstance(checkpoint.meta, dict):
            raise _damaged_error(
                checkpoint.path / METAFNAME,
                checkpoint.path,
                yaml.YAMLError(f"no metadata: {checkpoint.meta!r}"),
            )


def _damaged_error(path, checkpoint_folder, error):
    """The error that names a damaged file and the way out."""
    first_line = (str(error).splitlines() or [""])[0]
    return RuntimeError(
        f"could not read {path} ({type(error).__name__}: {first_line}): "
        f"the checkpoint {checkpoint_folder.name} is truncated or damaged. "
        f"Move that folder out of {checkpoint_folder.parent} and rerun to "
        "resume from the checkpoint before it; the other checkpoints are "
        "untouched."
    )


def _damaged_file(error):
    """``(file, checkpoint folder)`` when ``error`` arose reading a
    checkpoint file (inside a load hook but not in a fit check, or reading
    a ``CKPT.yaml``), else None. Errors the Checkpointer raises itself (a
    missing file) already name the checkpoint and pass through."""
    found, reader_frames = None, 0
    traceback = error.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        name, filename = frame.f_code.co_name, frame.f_code.co_filename
        if name == LOAD_HOOKS_FRAME:
            checkpoint = frame.f_locals["checkpoint"]
            path = frame.f_locals.get("loadpath", checkpoint.path)
            found, reader_frames = (path, checkpoint.path), 0
        elif name == METADATA_FRAME and "ckpt_dir" in frame.f_locals:
            folder = frame.f_locals["ckpt_dir"]
            found, reader_frames = (folder / METAFNAME, folder), 0
        elif found is not None:
            if filename.endswith(FIT_CHECK_FILES):
                return None
            reader_frames += 1
        traceback = traceback.tb_next
    return found if reader_frames else None
