"""A clear error for a recipe checkpoint that cannot be read.

A run killed while writing a checkpoint, or a damaged disk, leaves a file
that ``torch.load`` rejects deep inside torch (``PytorchStreamReader failed
reading zip archive``...). :func:`clear_checkpoint_errors` names the file,
its checkpoint folder and the way out instead; nothing is deleted, so no
training is lost.
"""

import contextlib
import os

# Where SpeechBrain's Checkpointer calls each recoverable's load hook; its
# locals name the checkpoint and the file being read.
LOAD_HOOKS_FRAME = "_call_load_hooks"
# Reading a file fails inside torch.load; a file read fine whose weights do
# not fit (e.g. a rerun with another K) fails after it, and is not "damaged".
READER_FILE = os.path.join("torch", "serialization.py")


@contextlib.contextmanager
def clear_checkpoint_errors():
    """Re-raises a failure to read a checkpoint file as a ``RuntimeError``
    that names the file and how to resume without it.

    Errors raised anywhere else, including weights that were read but do
    not fit the module, pass through unchanged.

    Example
    -------
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> folder = getfixture("tmp_path")
    >>> layer = torch.nn.Linear(2, 2)
    >>> checkpointer = Checkpointer(folder, {"layer": layer})
    >>> checkpoint = checkpointer.save_checkpoint()
    >>> _ = (checkpoint.path / "layer.ckpt").write_bytes(b"cut short")
    >>> with clear_checkpoint_errors():
    ...     checkpointer.recover_if_possible()
    Traceback (most recent call last):
    ...
    RuntimeError: could not read .../layer.ckpt (...): the checkpoint CKPT+... is truncated or damaged. Move that folder out of ... and rerun to resume from the checkpoint before it; the other checkpoints are untouched.
    """
    try:
        yield
    except Exception as error:
        frame = _load_hooks_frame(error)
        if frame is None:
            raise
        checkpoint = frame.f_locals["checkpoint"]
        path = frame.f_locals.get("loadpath", checkpoint.path)
        first_line = (str(error).splitlines() or [""])[0]
        raise RuntimeError(
            f"could not read {path} ({type(error).__name__}: {first_line}): "
            f"the checkpoint {checkpoint.path.name} is truncated or damaged. "
            f"Move that folder out of {checkpoint.path.parent} and rerun to "
            "resume from the checkpoint before it; the other checkpoints are "
            "untouched."
        ) from error


def _load_hooks_frame(error):
    """The Checkpointer's load-hook frame of ``error``'s traceback when the
    error arose reading a file under it (in ``torch.load``), else None."""
    hooks_frame = None
    traceback = error.__traceback__
    while traceback is not None:
        code = traceback.tb_frame.f_code
        if code.co_name == LOAD_HOOKS_FRAME:
            hooks_frame = traceback.tb_frame
        elif hooks_frame is not None and code.co_filename.endswith(READER_FILE):
            return hooks_frame
        traceback = traceback.tb_next
    return None
