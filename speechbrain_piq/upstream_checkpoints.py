"""Resumes training folders written by upstream's PIQ recipe.

Upstream's ``Checkpointer`` saves PSI as the recoverable ``psi_model`` and
does not save the learning-rate scheduler; this recipe's saves ``psi`` and
``lr_annealing``. :func:`read_upstream_checkpoints` lets this recipe's
``Checkpointer`` load such a folder: PSI is saved and loaded there under
upstream's name, so the folder stays one run that either recipe resumes,
and a recoverable that upstream's checkpoints lack starts afresh.
"""

import logging
import pathlib

from speechbrain.utils.checkpoints import PARAMFILE_EXT

from speechbrain_piq.checkpoint_errors import clear_checkpoint_errors

# This recipe's recoverable -> upstream's name for it.
UPSTREAM_NAMES = {"psi": "psi_model"}


def read_upstream_checkpoints(checkpointer):
    """Adapts ``checkpointer`` in place to a folder of upstream checkpoints.

    Nothing changes when the folder holds no checkpoint with an upstream
    name (a new run, or one of this recipe).

    Arguments
    ---------
    checkpointer : speechbrain.utils.checkpoints.Checkpointer
        This recipe's checkpointer (recoverables ``psi``, ``counter``,
        ``lr_annealing``), before the Brain adds its own.

    Returns
    -------
    list
        Notes on what changed, ``(logging level, message)`` pairs to log
        once the experiment's logging is set up.

    Example
    -------
    >>> import torch
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> folder = getfixture("tmp_path")
    >>> upstream_psi = torch.nn.Linear(2, 2)
    >>> _ = Checkpointer(folder, {"psi_model": upstream_psi}).save_checkpoint()
    >>> psi, scheduler = torch.nn.Linear(2, 2), torch.nn.Linear(1, 1)
    >>> ours = Checkpointer(folder, {"psi": psi, "lr_annealing": scheduler})
    >>> for level, message in read_upstream_checkpoints(ours):
    ...     print(message.split(": ", 1)[1])
    psi is saved and loaded there as psi_model
    upstream checkpoints have no lr_annealing; it starts afresh when one of them is loaded
    >>> _ = ours.recover_if_possible()
    >>> torch.equal(psi.weight, upstream_psi.weight)
    True
    """
    with clear_checkpoint_errors(checkpointer):
        checkpoints = checkpointer.list_checkpoints()
    saved = {name for ckpt in checkpoints for name in ckpt.paramfiles}
    renamed = [
        name
        for name, upstream_name in UPSTREAM_NAMES.items()
        if name in checkpointer.recoverables
        and name not in saved
        and upstream_name in saved
    ]
    if not renamed:
        return []
    notes = []
    for name in renamed:
        _rename_recoverable(checkpointer, name, UPSTREAM_NAMES[name])
        notes.append(
            f"{checkpointer.checkpoints_dir} holds upstream checkpoints: "
            f"{name} is saved and loaded there as {UPSTREAM_NAMES[name]}"
        )
    for name in checkpointer.recoverables:
        if any(name not in ckpt.paramfiles for ckpt in checkpoints):
            checkpointer.optional_recoverables[name] = True
            notes.append(
                f"{checkpointer.checkpoints_dir}: upstream checkpoints have "
                f"no {name}; it starts afresh when one of them is loaded"
            )
    return [(logging.INFO, note) for note in notes]


def saved_file(checkpoint_folder, name):
    """The file of recoverable ``name`` in a ``CKPT+`` folder, under
    upstream's name when only that one is there.

    Arguments
    ---------
    checkpoint_folder : str or os.PathLike
        A ``CKPT+`` folder.
    name : str
        This recipe's recoverable name (``psi``).

    Returns
    -------
    pathlib.Path
        ``name.ckpt`` or its upstream counterpart (``psi_model.ckpt``);
        ``name.ckpt`` when neither exists.

    Example
    -------
    >>> folder = getfixture("tmp_path")
    >>> saved_file(folder, "psi").name
    'psi.ckpt'
    >>> (folder / "psi_model.ckpt").touch()
    >>> saved_file(folder, "psi").name
    'psi_model.ckpt'
    """
    folder = pathlib.Path(checkpoint_folder)
    ours = folder / f"{name}{PARAMFILE_EXT}"
    if name not in UPSTREAM_NAMES or ours.exists():
        return ours
    upstream = folder / f"{UPSTREAM_NAMES[name]}{PARAMFILE_EXT}"
    return upstream if upstream.exists() else ours


def _rename_recoverable(checkpointer, name, new_name):
    """Registers recoverable ``name`` (and its hooks) as ``new_name``."""
    checkpointer.add_recoverable(
        new_name,
        checkpointer.recoverables.pop(name),
        custom_load_hook=checkpointer.custom_load_hooks.pop(name, None),
        custom_save_hook=checkpointer.custom_save_hooks.pop(name, None),
        optional_load=checkpointer.optional_recoverables.pop(name, False),
    )
