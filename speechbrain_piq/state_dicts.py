"""Strict, clearly failing ``state_dict`` loading for ``Pretrainer`` hooks.

SpeechBrain's default ``Pretrainer`` hook only logs missing weights, which
would let PIQ run with half-random layers; the hooks of
:mod:`speechbrain_piq.classifiers.pretrained` and
:mod:`speechbrain_piq.inference.loading` load through
:func:`load_fitting_state_dict` instead.
"""

import collections.abc
import os

from speechbrain.utils.checkpoints import torch_patched_state_dict_load
from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

# How many offending keys an error message names.
LISTED_KEYS = 5

REWRITE_IT = "save it again from the model it holds, or download it again"


def read_state_dict(path, fix=REWRITE_IT):
    """Reads a ``.ckpt`` ``state_dict`` file onto the CPU.

    Arguments
    ---------
    path : str or os.PathLike
        The file.
    fix : str
        What the user should do when the file cannot be read.

    Returns
    -------
    dict
        Parameter name -> tensor.

    Raises
    ------
    FileNotFoundError
        If ``path`` is no file.
    ValueError
        If it is not a readable ``state_dict`` file (truncated, damaged or
        a pickled module).

    Example
    -------
    >>> path = getfixture("tmp_path") / "linear.ckpt"
    >>> torch.save(torch.nn.Linear(4, 3).state_dict(), path)
    >>> sorted(read_state_dict(path))
    ['bias', 'weight']
    >>> _ = path.write_bytes(path.read_bytes()[:100])
    >>> read_state_dict(path)
    Traceback (most recent call last):
    ...
    ValueError: could not read .../linear.ckpt (RuntimeError: ...): the file is truncated or damaged, or not a state_dict; save it again from the model it holds, or download it again
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing; {fix}")
    try:
        state_dict = torch_patched_state_dict_load(path, "cpu")
    # Unpickling a damaged file fails with whatever the damaged bytes
    # trigger (OSError, EOFError, KeyError, UnpicklingError...), and the
    # answer is the same for each.
    except Exception as error:
        # torch's reasons run on for paragraphs; their first sentence says it.
        reason = (str(error).splitlines() or [""])[0].split(". ")[0]
        raise ValueError(
            f"could not read {path} ({type(error).__name__}: {reason}): the "
            f"file is truncated or damaged, or not a state_dict; {fix}"
        ) from error
    if not isinstance(state_dict, collections.abc.Mapping):
        raise ValueError(
            f"{path} holds a {type(state_dict).__name__}, not a state_dict "
            f"(parameter name -> tensor); {fix}"
        )
    return state_dict


def load_fitting_state_dict(module, state_dict, path, description, fix):
    """Loads ``state_dict`` into ``module`` if every weight is there and
    has the module's shape; weights the module does not use are logged.

    Arguments
    ---------
    module : torch.nn.Module
        The module the hparams built.
    state_dict : dict
        The weights read from ``path``.
    path : str or os.PathLike
        Where they came from (named in messages).
    description : str
        What ``module`` is, for messages (e.g. ``"the classifier built
        from the hparams"``).
    fix : str
        What the user should do when the file does not fit.

    Raises
    ------
    ValueError
        If weights of ``module`` are missing or have other shapes.

    Example
    -------
    >>> weights = torch.nn.Linear(4, 3).state_dict()
    >>> load_fitting_state_dict(
    ...     torch.nn.Linear(4, 2), weights, "linear.ckpt", "the Linear",
    ...     "train it again"
    ... )
    Traceback (most recent call last):
    ...
    ValueError: linear.ckpt does not fit the Linear (missing: []; shape mismatches: ['weight: (3, 4) in the checkpoint, (2, 4) in the model', 'bias: (3,) in the checkpoint, (2,) in the model']); train it again
    """
    check_state_dict_fits(module, state_dict, path, description, fix)
    unused = [key for key in state_dict if key not in module.state_dict()]
    if unused:
        logger.warning(f"{path}: weights unused by {description}: {unused}")
    module.load_state_dict(state_dict, strict=False)


def check_state_dict_fits(module, state_dict, path, description, fix):
    """Raises unless every weight of ``module`` is in ``state_dict`` with
    the module's shape.

    Arguments
    ---------
    module : torch.nn.Module
        The module the hparams built.
    state_dict : dict
        The weights read from ``path``.
    path : str or os.PathLike
        Where they came from (named in messages).
    description : str
        What ``module`` is, for messages.
    fix : str
        What the user should do when the file does not fit.

    Raises
    ------
    ValueError
        If weights of ``module`` are missing or have other shapes.

    Example
    -------
    >>> weights = torch.nn.Linear(4, 3).state_dict()
    >>> check_state_dict_fits(
    ...     torch.nn.Linear(4, 3), weights, "linear.ckpt", "the Linear", "-"
    ... )
    """
    expected = module.state_dict()
    missing = [key for key in expected if key not in state_dict]
    mismatched = [
        f"{key}: {tuple(state_dict[key].shape)} in the checkpoint, "
        f"{tuple(value.shape)} in the model"
        for key, value in expected.items()
        if key in state_dict and state_dict[key].shape != value.shape
    ]
    if missing or mismatched:
        more = "..." if len(missing) > LISTED_KEYS else ""
        raise ValueError(
            f"{path} does not fit {description} (missing: "
            f"{missing[:LISTED_KEYS]}{more}; shape mismatches: "
            f"{mismatched[:LISTED_KEYS]}); {fix}"
        )
