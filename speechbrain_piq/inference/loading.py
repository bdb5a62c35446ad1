"""Checked checkpoint loading for exported interpreters.

SpeechBrain's default ``Pretrainer`` hook only logs missing weights, so a
checkpoint that does not fit the yaml would give an interpreter with random
layers, and its label encoder hook silently leaves the encoder empty when
``label_encoder.txt`` is missing or unreadable. Exports name
:func:`load_checkpoint` as the hook of each module and
:func:`load_label_encoder` as that of the label encoder.
"""

from speechbrain_piq.dataio.label_encoders import fill_label_encoder
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
    """Fills an exported interpreter's ``CategoricalEncoder`` from its file
    (``fill_label_encoder``, whose errors here say to export again).

    Arguments
    ---------
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        The encoder the yaml built.
    path : str or os.PathLike
        Its ``label_encoder.txt``.

    Example
    -------
    >>> from speechbrain.dataio.encoder import CategoricalEncoder
    >>> path = getfixture("tmp_path") / "label_encoder.txt"
    >>> _ = path.write_text("")
    >>> load_label_encoder(CategoricalEncoder(), path)
    Traceback (most recent call last):
    ...
    ValueError: could not read .../label_encoder.txt (KeyError: 'starting_index'): the file is truncated or damaged; the interpreter needs the label encoder of the run that trained its classifier: export the folder again from the run that trained it
    """
    fill_label_encoder(
        label_encoder,
        path,
        "the interpreter needs the label encoder of the run that trained "
        f"its classifier: {EXPORT_AGAIN}",
    )
