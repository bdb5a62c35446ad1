"""Checked checkpoint loading for exported interpreters.

SpeechBrain's default ``Pretrainer`` hook only logs missing weights, so a
checkpoint that does not fit the yaml would give an interpreter with random
layers, and its label encoder hook silently leaves the encoder empty when
``label_encoder.txt`` is missing or unreadable. Exports name
:func:`load_checkpoint` as the hook of each module and
:func:`load_label_encoder` as that of the label encoder.
"""

import os

from speechbrain_piq.state_dicts import (
    load_fitting_state_dict,
    read_state_dict,
)

EXPORT_AGAIN = "export the folder again from the run that trained it"


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
    FileNotFoundError
        If the file is missing.
    ValueError
        If the file is truncated or damaged, lacks weights of ``module`` or
        has other shapes.

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
        read_state_dict(path, EXPORT_AGAIN),
        path,
        f"the {type(module).__name__} that hyperparams.yaml builds",
        EXPORT_AGAIN,
    )


def load_label_encoder(label_encoder, path):
    """Fills a ``CategoricalEncoder`` from its file, failing clearly when
    the file is missing, unreadable or lists no class.

    Arguments
    ---------
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        The encoder the yaml built.
    path : str or os.PathLike
        Its ``label_encoder.txt``.

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    ValueError
        If it is not a label encoder file or lists no class.

    Example
    -------
    >>> from speechbrain.dataio.encoder import CategoricalEncoder
    >>> path = getfixture("tmp_path") / "label_encoder.txt"
    >>> written = CategoricalEncoder()
    >>> written.update_from_iterable(["dog", "rain"])
    >>> written.save(path)
    >>> encoder = CategoricalEncoder()
    >>> load_label_encoder(encoder, path)
    >>> encoder.ind2lab
    {0: 'dog', 1: 'rain'}
    >>> _ = path.write_text("")
    >>> load_label_encoder(CategoricalEncoder(), path)
    Traceback (most recent call last):
    ...
    ValueError: could not read .../label_encoder.txt (KeyError: 'starting_index'): the file is truncated or damaged; export the folder again from the run that trained it
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} is missing; the interpreter needs the label encoder of "
            f"the run that trained its classifier: {EXPORT_AGAIN}"
        )
    try:
        label_encoder.load(path)
    # CategoricalEncoder.load parses Python literals line by line: a cut
    # or damaged file fails in int(), ast.literal_eval or the extras lookup.
    except (OSError, ValueError, SyntaxError, KeyError) as error:
        first_line = (str(error).splitlines() or [""])[0]
        raise ValueError(
            f"could not read {path} ({type(error).__name__}: {first_line}): "
            f"the file is truncated or damaged; {EXPORT_AGAIN}"
        ) from error
    if len(label_encoder) == 0:
        raise ValueError(f"{path} lists no class; {EXPORT_AGAIN}")
