"""Checked checkpoint loading for exported interpreters.

SpeechBrain's default ``Pretrainer`` hook only logs missing weights, so a
checkpoint that does not fit the yaml would give an interpreter with random
layers. Exports name :func:`load_checkpoint` as the hook of each module.
"""

from speechbrain_piq.state_dicts import (
    load_fitting_state_dict,
    read_state_dict,
)


def load_checkpoint(module, path):
    """Loads a ``state_dict`` file, failing clearly when it does not fit.

    Missing weights and shape mismatches are errors; weights the module
    does not use (e.g. buffers of another library version) are logged.

    Arguments
    ---------
    module : torch.nn.Module
        The module the yaml built.
    path : str or os.PathLike
        Its ``.ckpt`` file.

    Raises
    ------
    ValueError
        If the file lacks weights of ``module`` or has other shapes.

    Example
    -------
    >>> path = getfixture("tmp_path") / "linear.ckpt"
    >>> torch.save(torch.nn.Linear(4, 3).state_dict(), path)
    >>> load_checkpoint(torch.nn.Linear(4, 3), path)
    >>> load_checkpoint(torch.nn.Linear(4, 2), path)
    Traceback (most recent call last):
    ...
    ValueError: ...linear.ckpt does not fit the Linear that hyperparams.yaml builds (missing: []; shape mismatches: ['weight: (3, 4) in the checkpoint, (2, 4) in the model', ...
    """
    load_fitting_state_dict(
        module,
        read_state_dict(path),
        path,
        f"the {type(module).__name__} that hyperparams.yaml builds",
        "export the folder again from the run that trained it",
    )
