"""Checked checkpoint loading for exported interpreters.

SpeechBrain's default ``Pretrainer`` hook only logs missing weights, so a
checkpoint that does not fit the yaml would give an interpreter with random
layers. Exports name :func:`load_checkpoint` as the hook of each module.
"""

from speechbrain.utils.checkpoints import torch_patched_state_dict_load
from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)


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
    ValueError: ...linear.ckpt does not fit the Linear that hyperparams.yaml builds (missing: []; shape mismatches: ['weight: (3, 4) in the file, (2, 4) in the model', ...
    """
    state_dict = torch_patched_state_dict_load(path, "cpu")
    expected = module.state_dict()
    missing = [key for key in expected if key not in state_dict]
    mismatched = [
        f"{key}: {tuple(state_dict[key].shape)} in the file, "
        f"{tuple(value.shape)} in the model"
        for key, value in expected.items()
        if key in state_dict and state_dict[key].shape != value.shape
    ]
    if missing or mismatched:
        raise ValueError(
            f"{path} does not fit the {type(module).__name__} that "
            f"hyperparams.yaml builds (missing: {missing[:5]}; shape "
            f"mismatches: {mismatched[:5]}); export the folder again from "
            "the run that trained it"
        )
    unused = [key for key in state_dict if key not in expected]
    if unused:
        logger.warning(f"{path}: weights unused by the module: {unused}")
    module.load_state_dict(state_dict, strict=False)
