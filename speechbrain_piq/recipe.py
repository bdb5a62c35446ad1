"""Checks and helpers shared by the recipe scripts (``train_piq.py`` and
``recipes/ESC50/train_classifier.py``)."""

import os

from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
from speechbrain.utils.data_utils import split_path
from speechbrain.utils.distributed import run_on_main
from speechbrain.utils.fetching import fetch
from speechbrain.utils.logger import get_logger
from speechbrain.utils.train_logger import TensorboardLogger

from speechbrain_piq.dataio.datasets import dataio_prep
from speechbrain_piq.dataio.esc50_prepare import prepare_esc50
from speechbrain_piq.dataio.label_encoders import LABEL_ENCODER_FILE
from speechbrain_piq.training.selection import (
    CHECKPOINT_METRICS,
    DEFAULT_CHECKPOINT_METRIC,
)

logger = get_logger(__name__)

# Where a hub classifier's label_encoder.txt is fetched into save_folder.
HUB_LABEL_ENCODER_FILE = "classifier_label_encoder.txt"


def check_recipe_hparams(hparams):
    """Raises ``ValueError`` for hparams the PIQ recipe cannot honour.

    Arguments
    ---------
    hparams : dict
        The loaded recipe hyperparameters.

    Example
    -------
    >>> check_recipe_hparams({"use_mask_output": True, "mask_th": 0.35})
    >>> check_recipe_hparams({"use_mask_output": True, "mask_th": 1.5})
    Traceback (most recent call last):
    ...
    ValueError: mask_th is 1.5 but must lie in [0, 1): it is the fraction of each clip's peak log-power above which the target mask is 1.
    >>> check_recipe_hparams(
    ...     {"use_mask_output": True, "mask_th": 0.35,
    ...      "best_checkpoint_metric": "accuracy"}
    ... )
    Traceback (most recent call last):
    ...
    ValueError: best_checkpoint_metric is 'accuracy'; use one of faithful_sparsity, fid_in, loss.
    >>> check_recipe_hparams({"use_mask_output": False, "mask_th": 0.35})
    Traceback (most recent call last):
    ...
    ValueError: use_mask_output: False (upstream's experimental softplus reconstruction) is not supported: PIQ explains with a sigmoid mask; set use_mask_output: True.
    """
    if not hparams["use_mask_output"]:
        raise ValueError(
            "use_mask_output: False (upstream's experimental softplus "
            "reconstruction) is not supported: PIQ explains with a sigmoid "
            "mask; set use_mask_output: True."
        )
    metric = hparams.get("best_checkpoint_metric", DEFAULT_CHECKPOINT_METRIC)
    if metric not in CHECKPOINT_METRICS:
        raise ValueError(
            f"best_checkpoint_metric is {metric!r}; use one of "
            f"{', '.join(CHECKPOINT_METRICS)}."
        )
    if not 0 <= hparams["mask_th"] < 1:
        raise ValueError(
            f"mask_th is {hparams['mask_th']} but must lie in [0, 1): it is "
            "the fraction of each clip's peak log-power above which the "
            "target mask is 1."
        )


def check_label_count(label_encoder, out_n_neurons, source=None):
    """Raises ``ValueError`` when the label encoder numbers another count
    of classes than the classifier outputs.

    Arguments
    ---------
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        The run's classes.
    out_n_neurons : int
        The classifier's number of outputs (hparams).
    source : str, optional
        The classifier's ``label_encoder.txt`` when it numbers the classes;
        by default they are the data's.

    Example
    -------
    >>> from speechbrain.dataio.encoder import CategoricalEncoder
    >>> encoder = CategoricalEncoder()
    >>> encoder.update_from_iterable(["dog", "rain", "siren"])
    >>> check_label_count(encoder, 2)
    Traceback (most recent call last):
    ...
    ValueError: the data has 3 classes but hparams say out_n_neurons: 2; set out_n_neurons: 3 (and use a classifier trained on these classes).
    >>> check_label_count(encoder, 2, "clf/label_encoder.txt")
    Traceback (most recent call last):
    ...
    ValueError: clf/label_encoder.txt lists 3 classes but hparams say out_n_neurons: 2; the classifier's label_encoder.txt must list one class per output: give the one it was trained with.
    """
    if len(label_encoder) == out_n_neurons:
        return
    if source is not None:
        raise ValueError(
            f"{source} lists {len(label_encoder)} classes but hparams say "
            f"out_n_neurons: {out_n_neurons}; the classifier's "
            "label_encoder.txt must list one class per output: give the one "
            "it was trained with."
        )
    raise ValueError(
        f"the data has {len(label_encoder)} classes but hparams say "
        f"out_n_neurons: {out_n_neurons}; set out_n_neurons: "
        f"{len(label_encoder)} (and use a classifier trained on these "
        "classes)."
    )


def tensorboard_logger(hparams):
    """A ``TensorboardLogger`` when ``use_tensorboard`` is True, else None.

    Arguments
    ---------
    hparams : dict
        Reads ``use_tensorboard`` and ``tensorboard_logs_folder``.

    Returns
    -------
    speechbrain.utils.train_logger.TensorboardLogger or None

    Example
    -------
    >>> print(tensorboard_logger({"use_tensorboard": False}))
    None
    """
    if not hparams.get("use_tensorboard", False):
        return None
    return TensorboardLogger(save_dir=hparams["tensorboard_logs_folder"])


def classifier_label_encoder_file(hparams):
    """The ``label_encoder.txt`` the classifier was trained with, if known.

    ``classifier_label_encoder_path`` when set; else the
    ``label_encoder.txt`` beside a local ``classifier_model_path`` (the
    classifier recipe writes one there), or in the hub repo of a hub
    ``classifier_model_path`` (fetched by the main process into
    ``save_folder``); else None: the classes are then numbered in upstream's
    order, that of the hub classifiers.

    Arguments
    ---------
    hparams : dict
        Reads ``classifier_label_encoder_path``, ``classifier_model_path``
        and ``save_folder``.

    Returns
    -------
    str or None

    Example
    -------
    >>> folder = getfixture("tmp_path")
    >>> hparams = {
    ...     "classifier_label_encoder_path": None,
    ...     "classifier_model_path": str(folder / "classifier.ckpt"),
    ...     "save_folder": str(folder / "save"),
    ... }
    >>> (folder / "classifier.ckpt").touch()
    >>> print(classifier_label_encoder_file(hparams))
    None
    >>> (folder / "label_encoder.txt").touch()
    >>> os.path.basename(classifier_label_encoder_file(hparams))
    'label_encoder.txt'
    """
    # .get: a yaml written before this key existed means None.
    if hparams.get("classifier_label_encoder_path") is not None:
        return str(hparams["classifier_label_encoder_path"])
    location = hparams["classifier_model_path"]
    # A FetchSource (hparams may give one) holds the path in .path.
    classifier_path = str(getattr(location, "path", location))
    beside = os.path.join(os.path.dirname(classifier_path), LABEL_ENCODER_FILE)
    if os.path.isfile(beside):
        return beside
    if os.path.exists(classifier_path):
        return None
    fetched = os.path.join(hparams["save_folder"], HUB_LABEL_ENCODER_FILE)
    run_on_main(
        _fetch_hub_label_encoder, args=[split_path(location)[0], fetched]
    )
    return fetched if os.path.isfile(fetched) else None


def _fetch_hub_label_encoder(source, destination):
    """Fetches ``label_encoder.txt`` of hub repo ``source`` to
    ``destination``; a repo without one leaves no file there."""
    if os.path.lexists(destination):
        os.remove(destination)
    try:
        fetch(
            LABEL_ENCODER_FILE,
            source=source,
            savedir=os.path.dirname(destination),
            save_filename=os.path.basename(destination),
        )
    except (OSError, ValueError, EntryNotFoundError) as error:
        if isinstance(error, EntryNotFoundError) and not isinstance(
            error, LocalEntryNotFoundError
        ):
            logger.info(
                f"No {LABEL_ENCODER_FILE} in {source}: the classes are "
                "numbered in upstream's order"
            )
            return
        logger.warning(
            f"Could not fetch {LABEL_ENCODER_FILE} from {source} "
            f"({type(error).__name__}: {' '.join(str(error).split())[:200]})"
            ": the classes are numbered in upstream's order. If the "
            "classifier was trained with another order, name its "
            "label_encoder.txt in classifier_label_encoder_path."
        )


def prepare_recipe_data(hparams, classifier_label_encoder=None):
    """Writes the ESC-50 manifests (main process only) and builds the
    datasets the recipe's hparams describe.

    Arguments
    ---------
    hparams : dict
        Reads ``data_folder``, ``save_folder``, ``train_folds``,
        ``valid_folds``, ``test_folds``, ``subset``, ``download``,
        ``sample_rate``, ``clip_seconds`` and ``use_clip_cache``.
    classifier_label_encoder : str, optional
        The ``label_encoder.txt`` the classifier was trained with (see
        :func:`classifier_label_encoder_file`).

    Returns
    -------
    datasets : dict
        ``{"train", "valid", "test"}`` -> ``DynamicItemDataset``.
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        The dataset's classes.
    """
    manifests = run_on_main(
        prepare_esc50,
        kwargs={
            key: hparams[key]
            for key in (
                "data_folder",
                "save_folder",
                "train_folds",
                "valid_folds",
                "test_folds",
                "subset",
                "download",
            )
        },
    )
    return dataio_prep(
        manifests,
        hparams["data_folder"],
        hparams["save_folder"],
        sample_rate=hparams["sample_rate"],
        clip_seconds=hparams["clip_seconds"],
        use_clip_cache=hparams["use_clip_cache"],
        classifier_label_encoder=classifier_label_encoder,
    )
