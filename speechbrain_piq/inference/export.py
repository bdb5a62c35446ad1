"""Turns a finished ``train_piq.py`` run into a hub-ready folder.

The folder holds what ``PIQAudioInterpreter.from_hparams`` needs (the
inference ``hyperparams.yaml``, ``psi.ckpt`` from the best checkpoint, the
classifier's ``embedding_model.ckpt`` and ``classifier.ckpt``,
``label_encoder.txt``) and a model card with the run's test metrics. It is
loaded once before being declared done, so a broken export fails here, not
on a user's machine.
"""

import json
import os
import pathlib
import shutil

from huggingface_hub import HfApi
from speechbrain.utils.checkpoints import Checkpointer
from speechbrain.utils.data_utils import split_path
from speechbrain.utils.fetching import fetch
from speechbrain.utils.logger import get_logger

from speechbrain_piq.brain import best_interpretation_key
from speechbrain_piq.inference.hub_hparams import (
    CHECKPOINT_FILES,
    inference_hparams,
    training_tree,
)
from speechbrain_piq.inference.interpreter import PIQAudioInterpreter
from speechbrain_piq.inference.model_card import model_card

logger = get_logger(__name__)

CLASSIFIER_PARTS = ("embedding_model", "classifier")


def best_checkpoint(save_folder):
    """The end-of-epoch checkpoint with the highest Fid-In (ties: lowest
    loss), as the training ``Brain`` ranks them.

    Arguments
    ---------
    save_folder : str or os.PathLike
        The run's ``save`` folder, holding ``CKPT+*`` folders.

    Returns
    -------
    speechbrain.utils.checkpoints.Checkpoint

    Raises
    ------
    FileNotFoundError
        If no end-of-epoch checkpoint with validation metrics exists.

    Example
    -------
    >>> folder = getfixture("tmp_path")
    >>> checkpointer = Checkpointer(folder)
    >>> _ = checkpointer.save_checkpoint(meta={"fid_in": 0.5, "loss": 1.0})
    >>> _ = checkpointer.save_checkpoint(meta={"fid_in": 0.8, "loss": 2.0})
    >>> best_checkpoint(folder).meta["fid_in"]
    0.8
    """
    checkpoint = Checkpointer(save_folder).find_checkpoint(
        importance_key=best_interpretation_key,
        ckpt_predicate=_has_epoch_metrics,
    )
    if checkpoint is None:
        raise FileNotFoundError(
            f"{save_folder} has no end-of-epoch checkpoint with validation "
            "metrics (fid_in, loss); let train_piq.py finish at least one "
            "epoch, or give the run's output folder"
        )
    return checkpoint


def _has_epoch_metrics(checkpoint):
    """Intra-epoch checkpoints carry no validation metrics to rank by."""
    meta = checkpoint.meta
    return meta.get("end-of-epoch", True) and "fid_in" in meta


def export_run(run_dir, out_dir, repo_id=None, overwrite=False):
    """Writes a training run's interpreter as a hub-ready folder.

    Arguments
    ---------
    run_dir : str or os.PathLike
        Output folder of ``train_piq.py`` (``hyperparams.yaml``,
        ``save/CKPT+*/psi.ckpt``, ``save/label_encoder.txt``,
        ``test_metrics.json``).
    out_dir : str or os.PathLike
        Folder to write (created).
    repo_id : str, optional
        Hub repo the folder will be pushed to; named in the yaml and the
        model card so that the published files load as they are.
    overwrite : bool
        Write into a non-empty ``out_dir``.

    Returns
    -------
    pathlib.Path
        ``out_dir``.

    Raises
    ------
    FileNotFoundError
        If the run lacks a file the export needs.
    FileExistsError
        If ``out_dir`` is not empty and ``overwrite`` is False.
    """
    run_dir = pathlib.Path(run_dir)
    out_dir = pathlib.Path(out_dir).absolute()
    training_yaml = run_dir / "hyperparams.yaml"
    if not training_yaml.is_file():
        raise FileNotFoundError(
            f"{run_dir} has no hyperparams.yaml; give the output folder of "
            "a train_piq.py run"
        )
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{out_dir} is not empty; choose a new folder or pass --overwrite"
        )
    files = _run_files(run_dir, training_yaml)
    hparams = inference_hparams(training_yaml, repo_id or str(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "hyperparams.yaml").write_text(hparams, encoding="utf-8")
    for name, path in files.items():
        shutil.copyfile(path, out_dir / CHECKPOINT_FILES[name])
    interpreter = PIQAudioInterpreter.from_hparams(
        out_dir, run_opts={"device": "cpu"}
    )
    card = model_card(
        source=repo_id or str(out_dir),
        classes=_class_names(interpreter.hparams.label_encoder),
        sample_rate=interpreter.sample_rate,
        components=_components(interpreter),
        metrics=_test_metrics(run_dir / "test_metrics.json"),
    )
    (out_dir / "README.md").write_text(card, encoding="utf-8")
    logger.info(f"Exported {run_dir} to {out_dir}")
    return out_dir


def _run_files(run_dir, training_yaml):
    """Local paths of the four files an export copies, by loadable."""
    save_folder = run_dir / "save"
    checkpoint = best_checkpoint(save_folder)
    files = {
        "psi": checkpoint.path / CHECKPOINT_FILES["psi"],
        "label_encoder": save_folder / CHECKPOINT_FILES["label_encoder"],
    }
    for name in CLASSIFIER_PARTS:
        files[name] = _classifier_checkpoint(save_folder, training_yaml, name)
    for name, path in files.items():
        if not path.is_file():
            raise FileNotFoundError(
                f"{run_dir} has no {name} file at {path}; is the run "
                "finished (train_piq.py writes it)?"
            )
    return files


def _classifier_checkpoint(save_folder, training_yaml, name):
    """The run's copy in ``save/``, else where its ``Pretrainer`` points."""
    collected = save_folder / CHECKPOINT_FILES[name]
    if collected.exists():
        return collected
    pretrainer = training_tree(training_yaml).get("pretrainer") or {}
    path = (pretrainer.get("paths") or {}).get(name)
    if path is None:
        raise FileNotFoundError(
            f"no {name} checkpoint: {collected} is missing and "
            f"{training_yaml} has no pretrainer path for it"
        )
    source, filename = split_path(str(path))
    try:
        return pathlib.Path(fetch(filename, source=source))
    except (OSError, ValueError) as error:
        raise FileNotFoundError(
            f"could not fetch the {name} checkpoint {path} named in "
            f"{training_yaml} ({' '.join(str(error).split())}); copy it to "
            f"{collected}"
        ) from error


def _test_metrics(path):
    """The run's test metrics, or ``{}`` (logged) when it has none."""
    if not path.is_file():
        logger.warning(f"{path} not found: the model card has no metrics")
        return {}
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)


def _class_names(label_encoder):
    """Class names in class-index order."""
    return [
        label_encoder.ind2lab[index] for index in sorted(label_encoder.ind2lab)
    ]


def _components(interpreter):
    """Human-readable names of the classifier and PSI classes."""
    classifier = interpreter.mods.audio_classifier
    parts = " + ".join(
        type(getattr(classifier, name)).__name__ for name in CLASSIFIER_PARTS
    )
    return {
        "classifier": f"{type(classifier).__name__} ({parts})",
        "psi": type(interpreter.mods.psi).__name__,
    }


def push_to_hub(folder, repo_id, private=False, token=None):
    """Uploads an exported folder to a HuggingFace model repo.

    The repo is created when missing. Uses the token saved by
    ``huggingface-cli login`` (or ``HF_TOKEN``) unless ``token`` is given.

    Arguments
    ---------
    folder : str or os.PathLike
        An exported folder (see :func:`export_run`).
    repo_id : str
        ``owner/name``.
    private : bool
        Create the repo as private.
    token : str, optional
        HuggingFace access token with write permission.

    Returns
    -------
    huggingface_hub.CommitInfo
        The upload's commit (its ``commit_url`` links to it).
    """
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    return api.upload_folder(
        folder_path=os.fspath(folder),
        repo_id=repo_id,
        repo_type="model",
        commit_message="Upload PIQ interpreter exported by speechbrain-piq",
    )
