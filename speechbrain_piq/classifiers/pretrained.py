"""The classifier's two checkpoint files: loading them checked, writing them.

A classifier is stored as upstream stores it: ``embedding_model.ckpt`` and
``classifier.ckpt``, plain ``state_dict`` files that SpeechBrain's
``Pretrainer`` loads, from the HuggingFace hub (``speechbrain/PIQ-ESC50``,
``speechbrain/vit-base-esc50``, ``speechbrain/focalnet-base-esc50``) or from
local paths. SpeechBrain's default loader is lenient (missing weights only log
a warning; a wrong class count fails deep inside torch), which would let PIQ
explain a half-random classifier; :func:`load_pretrained_classifier` installs
a strict check in the same ``Pretrainer`` instead.
"""

import functools
import os
import pathlib

import torch
from speechbrain.utils.checkpoints import PARAMFILE_EXT, torch_save
from speechbrain.utils.distributed import run_on_main

from speechbrain_piq.classifiers.base import check_num_classes
from speechbrain_piq.hub_access import check_hub_access
from speechbrain_piq.state_dicts import (
    load_fitting_state_dict,
    read_state_dict,
)

CHECKPOINT_NAMES = ("embedding_model", "classifier")

HOW_TO_GET_A_CLASSIFIER = (
    "Point the hparams at local checkpoints, e.g. "
    "--embedding_model_path=/path/to/embedding_model.ckpt "
    "--classifier_model_path=/path/to/classifier.ckpt, "
    "or train a classifier first: python recipes/ESC50/train_classifier.py "
    "recipes/ESC50/hparams/conv2d_classifier.yaml "
    "--data_folder=/path/to/ESC-50-master "
    "(it writes <output_folder>/pretrained/embedding_model.ckpt and "
    "classifier.ckpt)."
)


def load_pretrained_classifier(pretrainer, audio_classifier, out_n_neurons):
    """Fetches and loads a classifier's checkpoints with clear errors.

    Arguments
    ---------
    pretrainer : speechbrain.utils.parameter_transfer.Pretrainer
        Pretrainer whose loadables are the classifier's modules (upstream
        names: ``embedding_model``, ``classifier``) and whose ``paths`` give
        hub or local ``.ckpt`` files.
    audio_classifier : AudioClassifier
        The classifier wrapping those modules.
    out_n_neurons : int
        Number of classes the hparams expect.

    Returns
    -------
    dict
        ``{name: path}`` of the collected checkpoint files.

    Raises
    ------
    FileNotFoundError
        If a checkpoint cannot be fetched (e.g. offline) or a local path does
        not exist; the message says how to point at a local checkpoint or
        train one.
    ConnectionError
        At once, if a checkpoint is on the HuggingFace hub, the hub does not
        answer and ``HF_HUB_OFFLINE`` is not set.
    ValueError
        If a checkpoint does not fit the module built from the hparams
        (class count, missing weights, shapes).

    Example
    -------
    >>> from speechbrain.utils.parameter_transfer import Pretrainer
    >>> from speechbrain_piq.classifiers.base import AudioClassifier
    >>> trained = AudioClassifier(torch.nn.Identity(), torch.nn.Linear(4, 3))
    >>> folder = getfixture("tmp_path")
    >>> paths = save_pretrained_classifier(trained, folder)
    >>> fresh = AudioClassifier(torch.nn.Identity(), torch.nn.Linear(4, 3))
    >>> pretrainer = Pretrainer(
    ...     loadables={"classifier": fresh.classifier},
    ...     paths={"classifier": paths["classifier"]},
    ... )
    >>> _ = load_pretrained_classifier(pretrainer, fresh, out_n_neurons=3)
    >>> torch.equal(fresh.classifier.weight, trained.classifier.weight)
    True
    """
    check_num_classes(audio_classifier, out_n_neurons)
    requested = dict(pretrainer.paths)
    pretrainer.add_custom_hooks(
        {
            name: functools.partial(
                _load_checked,
                name=name,
                head=audio_classifier.classifier,
                out_n_neurons=out_n_neurons,
            )
            for name, module in pretrainer.loadables.items()
            if isinstance(module, torch.nn.Module)
        }
    )
    for name, path in requested.items():
        check_hub_access(
            f"the classifier's {name}",
            pretrainer.split_path(path)[0],
            "point the hparams at local checkpoints "
            "(--embedding_model_path, --classifier_model_path)",
        )
    try:
        collected = _collect(pretrainer)
    except (OSError, ValueError) as error:
        raise FileNotFoundError(
            f"Could not fetch the classifier checkpoints {requested} "
            f"({type(error).__name__}: {error}). {HOW_TO_GET_A_CLASSIFIER}"
        ) from error
    for name, path in collected.items():
        if not pathlib.Path(path).exists():
            raise FileNotFoundError(
                f"No {name} checkpoint at {requested.get(name, path)}. "
                f"{HOW_TO_GET_A_CLASSIFIER}"
            )
    pretrainer.load_collected()
    return collected


def save_pretrained_classifier(audio_classifier, folder):
    """Writes ``embedding_model.ckpt`` and ``classifier.ckpt`` into a folder.

    They are plain ``state_dict`` files, as upstream publishes them, so a
    ``Pretrainer`` (ours or upstream's recipes) loads them directly. Only the
    main process writes.

    Arguments
    ---------
    audio_classifier : AudioClassifier
        The classifier whose two modules are saved.
    folder : str or pathlib.Path
        Destination folder, created if needed.

    Returns
    -------
    dict
        ``{"embedding_model": path, "classifier": path}``.

    Example
    -------
    >>> from speechbrain_piq.classifiers.base import AudioClassifier
    >>> model = AudioClassifier(torch.nn.Linear(2, 4), torch.nn.Linear(4, 3))
    >>> paths = save_pretrained_classifier(model, getfixture("tmp_path"))
    >>> sorted(os.path.basename(path) for path in paths.values())
    ['classifier.ckpt', 'embedding_model.ckpt']
    """
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for name in CHECKPOINT_NAMES:
        paths[name] = os.path.join(folder, f"{name}.ckpt")
        torch_save(getattr(audio_classifier, name), paths[name])
    return paths


def _collect(pretrainer):
    """Collects the checkpoint files into ``collect_in`` from the main
    process only (ranks linking at once collide); returns ``{name: path}``.
    """
    if pretrainer.collect_in is None:
        return pretrainer.collect_files()
    links = {
        name: pathlib.Path(pretrainer.collect_in) / f"{name}{PARAMFILE_EXT}"
        for name in pretrainer.loadables
        if pretrainer.is_loadable(name)
    }
    run_on_main(_relink, args=[pretrainer, links.values()])
    return links


def _relink(pretrainer, links):
    """Collects afresh: SpeechBrain keeps an existing link, so a changed
    checkpoint path would still load the file the link points to."""
    for link in links:
        if link.is_symlink():
            link.unlink()
    pretrainer.collect_files()


def _load_checked(module, path, name, head, out_n_neurons):
    """Pretrainer hook: loads ``path`` into ``module`` after checking it fits.

    Unlike SpeechBrain's lenient default, missing weights and shape
    mismatches are errors naming the file and the fix; weights the module
    does not use are only logged.
    """
    state_dict = read_state_dict(path)
    if module is head and "weight" in state_dict:
        checkpoint_classes = state_dict["weight"].shape[0]
        if checkpoint_classes != out_n_neurons:
            raise ValueError(
                f"classifier has {checkpoint_classes} outputs ({path}) but "
                f"hparams say out_n_neurons: {out_n_neurons}; set "
                f"out_n_neurons: {checkpoint_classes} or point "
                f"classifier_model_path at a {out_n_neurons}-class checkpoint"
            )
    load_fitting_state_dict(
        module,
        state_dict,
        path,
        f"the {name} built from the hparams",
        "check that the hparams build the same backbone and sizes as the "
        "checkpoint was trained with",
    )
