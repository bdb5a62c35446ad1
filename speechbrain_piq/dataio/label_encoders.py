"""Which class each classifier output is: the run's ``label_encoder.txt``.

A classifier numbers its outputs by the label encoder it was trained with.
The save folder's ``label_encoder.txt`` is that encoder for every run there,
made once and then kept, as SpeechBrain's ``load_or_create`` keeps it, so a
resumed run keeps its numbering:

- :func:`write_data_label_encoder` (``prepare_esc50``) makes it in upstream's
  order (:func:`~speechbrain_piq.dataio.esc50_metadata.classes_in_label_order`),
  the order of the classifiers upstream's recipes trained and published;
- :func:`run_label_encoder` (``dataio_prep``) loads it, or replaces it with
  the ``label_encoder.txt`` the classifier was trained with when the run
  names one, and checks that it knows every class of the manifests. A file
  in ESC-50 ``target`` order, where that differs from upstream's, is named
  in a warning, as is a classifier's file that renumbers a run with
  checkpoints.
"""

import glob
import os

import pandas as pd
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.utils.distributed import if_main_process
from speechbrain.utils.logger import get_logger

from speechbrain_piq.dataio.esc50_metadata import (
    classes_in_label_order,
    label_encoder_for,
)

logger = get_logger(__name__)

LABEL_ENCODER_FILE = "label_encoder.txt"
CLASSES_SHOWN = 4


def fill_label_encoder(label_encoder, path, remedy):
    """Fills a ``CategoricalEncoder`` from its file, failing clearly when
    the file is missing, unreadable or lists no class.

    Arguments
    ---------
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        The encoder to fill.
    path : str or os.PathLike
        Its ``label_encoder.txt``.
    remedy : str
        What the user should do, ending each error message.

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    ValueError
        If it is not a label encoder file or lists no class.

    Example
    -------
    >>> path = getfixture("tmp_path") / "label_encoder.txt"
    >>> label_encoder_for(["dog", "rain"]).save(path)
    >>> encoder = CategoricalEncoder()
    >>> fill_label_encoder(encoder, path, "train again")
    >>> encoder.ind2lab
    {0: 'dog', 1: 'rain'}
    >>> _ = path.write_text("")
    >>> fill_label_encoder(CategoricalEncoder(), path, "train again")
    Traceback (most recent call last):
    ...
    ValueError: could not read .../label_encoder.txt (KeyError: 'starting_index'): the file is truncated or damaged; train again
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing; {remedy}")
    try:
        label_encoder.load(path)
    # CategoricalEncoder.load parses Python literals line by line: a cut
    # or damaged file fails in int(), ast.literal_eval or the extras lookup.
    except (OSError, ValueError, SyntaxError, KeyError) as error:
        first_line = (str(error).splitlines() or [""])[0]
        raise ValueError(
            f"could not read {path} ({type(error).__name__}: {first_line}): "
            f"the file is truncated or damaged; {remedy}"
        ) from error
    if len(label_encoder) == 0:
        raise ValueError(f"{path} lists no class; {remedy}")


def write_data_label_encoder(save_folder, classes):
    """Makes ``save_folder/label_encoder.txt`` for ``classes``, or keeps the
    one there when it lists the same classes.

    Arguments
    ---------
    save_folder : str
        The run's save folder.
    classes : list of str
        The data's classes in upstream's order.

    Returns
    -------
    str
        The file's path.

    Example
    -------
    >>> folder = str(getfixture("tmp_path"))
    >>> path = write_data_label_encoder(folder, ["rain", "dog"])
    >>> open(path).read().splitlines()[:2]
    ["'rain' => 0", "'dog' => 1"]
    >>> path = write_data_label_encoder(folder, ["dog", "rain"])
    >>> open(path).read().splitlines()[:2]
    ["'rain' => 0", "'dog' => 1"]
    """
    path = os.path.join(save_folder, LABEL_ENCODER_FILE)
    if os.path.isfile(path):
        kept = CategoricalEncoder()
        try:
            fill_label_encoder(kept, path, "it is made again")
        except ValueError as error:
            logger.warning(str(error))
        else:
            if set(kept.lab2ind) == set(classes):
                return path
    label_encoder_for(classes).save(path)
    return path


def run_label_encoder(save_folder, tables, classifier_label_encoder=None):
    """Returns the label encoder of a run and checks it on the manifests.

    Arguments
    ---------
    save_folder : str
        The run's save folder, holding ``label_encoder.txt`` (made from the
        manifests, classes in order of appearance, when missing).
    tables : dict
        ``{split: pandas.DataFrame}`` of the manifests (``class_string``;
        ``target``, ``fold``: when present, a file in ESC-50 target order is
        named in a warning).
    classifier_label_encoder : str, optional
        The ``label_encoder.txt`` the classifier was trained with; when
        given, it replaces the save folder's file.

    Returns
    -------
    speechbrain.dataio.encoder.CategoricalEncoder
        The encoder, its expected length set.

    Raises
    ------
    ValueError
        If the encoder lacks a class of the manifests, or a file cannot be
        read.

    Example
    -------
    >>> import pandas as pd
    >>> tables = {
    ...     "train": pd.DataFrame({"class_string": ["rain", "dog"]}),
    ...     "test": pd.DataFrame({"class_string": ["cat"]}),
    ... }
    >>> folder = getfixture("tmp_path")
    >>> run_label_encoder(str(folder), tables).lab2ind
    {'rain': 0, 'dog': 1, 'cat': 2}
    >>> label_encoder_for(["cat", "dog", "rain"]).save(folder / "theirs.txt")
    >>> run_label_encoder(str(folder), tables, folder / "theirs.txt").lab2ind
    {'cat': 0, 'dog': 1, 'rain': 2}
    >>> tables["test"]["class_string"] = ["owl"]
    >>> run_label_encoder(str(folder), tables)
    Traceback (most recent call last):
    ...
    ValueError: .../label_encoder.txt has no class 'owl' of the test manifest (it numbers 0 cat, 1 dog, 2 rain); it was made for other data: delete it, or use another save_folder
    """
    path = os.path.join(save_folder, LABEL_ENCODER_FILE)
    label_encoder = CategoricalEncoder()
    if classifier_label_encoder is not None:
        fill_label_encoder(
            label_encoder,
            classifier_label_encoder,
            "set classifier_label_encoder_path to the label_encoder.txt "
            "the classifier was trained with",
        )
        logger.info(
            f"Classes numbered as the classifier's {classifier_label_encoder}"
            f" ({_some(class_names(label_encoder))})"
        )
        _check_covers(
            label_encoder,
            tables,
            classifier_label_encoder,
            "interpret data of the classes the classifier was trained on",
        )
        _warn_if_renumbering_checkpoints(save_folder, path, label_encoder)
        _save_on_main(label_encoder, path)
    elif os.path.isfile(path):
        fill_label_encoder(
            label_encoder, path, "delete it to have it made again"
        )
        _check_covers(
            label_encoder,
            tables,
            path,
            "it was made for other data: delete it, or use another save_folder",
        )
        _warn_if_target_order(label_encoder, tables, path)
    else:
        label_encoder = label_encoder_for(_first_seen(tables))
        _save_on_main(label_encoder, path)
    label_encoder.expect_len(len(label_encoder))
    return label_encoder


def _first_seen(tables):
    """The manifests' classes in order of first appearance."""
    return list(
        dict.fromkeys(
            name for table in tables.values() for name in table["class_string"]
        )
    )


def _warn_if_target_order(label_encoder, tables, path):
    """Name a file in ESC-50 ``target`` order where upstream's order
    differs: it mislabels a hub classifier."""
    columns = ("target", "fold", "class_string")
    if not all(
        column in table.columns
        for table in tables.values()
        for column in columns
    ):
        return
    everything = pd.concat(tables.values())
    by_target = (
        everything[["target", "class_string"]]
        .drop_duplicates()
        .sort_values("target")["class_string"]
        .tolist()
    )
    upstream = classes_in_label_order(everything)
    order = class_names(label_encoder)
    if order == by_target and order != upstream:
        logger.warning(
            f"{path} numbers the classes in ESC-50 target order "
            f"({_some(order)}), as speechbrain-piq 0.1.0 did. Classifiers "
            "from upstream's recipes and the hub number them in order of "
            f"first appearance ({_some(upstream)}), so with such "
            "a classifier, accuracy and class names are wrong: delete that "
            "file to renumber. Keep it for a classifier trained in that "
            "order, or name that classifier's own file in "
            "classifier_label_encoder_path."
        )


def _warn_if_renumbering_checkpoints(save_folder, path, label_encoder):
    """Warn when the classifier's file renumbers the classes of a run that
    already has checkpoints."""
    if not glob.glob(os.path.join(save_folder, "CKPT+*")):
        return
    previous = CategoricalEncoder()
    try:
        fill_label_encoder(previous, path, "")
    except (FileNotFoundError, ValueError):
        return
    if previous.lab2ind != label_encoder.lab2ind:
        logger.warning(
            f"Renumbering the classes of the run in {save_folder}: {path} "
            f"numbered {_some(class_names(previous))}, the classifier's file "
            f"numbers {_some(class_names(label_encoder))}. Its checkpoints "
            "were trained with the old numbering: use a new output_folder "
            "unless that numbering was wrong."
        )


def _check_covers(label_encoder, tables, path, remedy):
    """Raise ``ValueError`` naming a manifest class the encoder lacks."""
    for split, table in tables.items():
        unknown = sorted(
            set(table["class_string"]) - set(label_encoder.lab2ind)
        )
        if unknown:
            raise ValueError(
                f"{path} has no class {unknown[0]!r} of the {split} manifest "
                f"(it numbers {_some(class_names(label_encoder))}); {remedy}"
            )


def class_names(label_encoder):
    """The class names of a ``CategoricalEncoder`` in class-index order.

    Arguments
    ---------
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        The encoder.

    Returns
    -------
    list of str
        ``names[i]`` is the class of index ``i``.

    Example
    -------
    >>> class_names(label_encoder_for(["rain", "dog"]))
    ['rain', 'dog']
    """
    return [
        label_encoder.ind2lab[index] for index in sorted(label_encoder.ind2lab)
    ]


def _some(classes):
    """Name the first classes, e.g. ``0 dog, 1 rain, ... (50 classes)``."""
    shown = ", ".join(
        f"{index} {name}" for index, name in enumerate(classes[:CLASSES_SHOWN])
    )
    if len(classes) <= CLASSES_SHOWN:
        return shown
    return f"{shown}, ... ({len(classes)} classes)"


def _save_on_main(label_encoder, path):
    """Save the encoder from the main process only (DDP-safe)."""
    if if_main_process():
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        label_encoder.save(path)
