"""Turns a finished ``train_piq.py`` run into a hub-ready folder.

The folder holds what ``PIQAudioInterpreter.from_hparams`` needs (the
inference ``hyperparams.yaml``, ``psi.ckpt`` from the best checkpoint, the
classifier's ``embedding_model.ckpt`` and ``classifier.ckpt``,
``label_encoder.txt``) and a model card with the run's test metrics. It is
loaded once before being declared done, so a broken export fails here, not
on a user's machine. It is written into a hidden sibling folder and moved
into place only then, so a failed export leaves no half-written folder.
"""

import json
import os
import pathlib
import shutil
import uuid

from huggingface_hub import HfApi
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.utils.checkpoints import Checkpointer
from speechbrain.utils.data_utils import split_path
from speechbrain.utils.fetching import fetch
from speechbrain.utils.logger import get_logger

from speechbrain_piq.brain import TESTED_CHECKPOINT_KEY
from speechbrain_piq.classifiers.fingerprint import check_classifier_files
from speechbrain_piq.dataio.label_encoders import class_names
from speechbrain_piq.inference.hub_hparams import (
    CHECKPOINT_FILES,
    MODULE_CHECKPOINTS,
    inference_hparams,
    training_tree,
)
from speechbrain_piq.inference.interpreter import PIQAudioInterpreter
from speechbrain_piq.inference.loading import load_label_encoder
from speechbrain_piq.inference.model_card import model_card
from speechbrain_piq.inference.source import check_repo_id
from speechbrain_piq.state_dicts import read_state_dict
from speechbrain_piq.training.selection import (
    LEGACY_CHECKPOINT_METRIC,
    checkpoint_key,
)
from speechbrain_piq.upstream_checkpoints import saved_file

try:
    from huggingface_hub.errors import HTTPError as HubHTTPError
# huggingface_hub < 0.24 uploads with requests, whose errors are OSErrors.
except ImportError:
    HubHTTPError = OSError

logger = get_logger(__name__)

CLASSIFIER_PARTS = ("embedding_model", "classifier")


def best_checkpoint(save_folder, metric=None):
    """The end-of-epoch checkpoint the training ``Brain`` ranks best under
    the run's ``best_checkpoint_metric`` (``training.selection``).

    Arguments
    ---------
    save_folder : str or os.PathLike
        The run's ``save`` folder, holding ``CKPT+*`` folders.
    metric : str, optional
        The run's ``best_checkpoint_metric``; by default the one the newest
        checkpoint was saved under.

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
    checkpoints = Checkpointer(save_folder).find_checkpoints(
        ckpt_predicate=_has_epoch_metrics, max_num_checkpoints=None
    )
    if not checkpoints:
        raise FileNotFoundError(
            f"{save_folder} has no end-of-epoch checkpoint with validation "
            "metrics (fid_in, loss); let train_piq.py finish at least one "
            "epoch, or give the run's output folder"
        )
    if metric is None:
        newest = max(
            checkpoints, key=lambda checkpoint: checkpoint.meta["unixtime"]
        )
        metric = newest.meta.get("selected_by", LEGACY_CHECKPOINT_METRIC)
    return max(
        checkpoints,
        key=lambda checkpoint: checkpoint_key(checkpoint, metric),
    )


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
        Write into a non-empty ``out_dir``: the exported files replace
        those of the same name, other files stay.

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
    ValueError
        If ``repo_id`` is not ``owner/name``, ``out_dir`` is inside
        ``run_dir``, or a file of the run is damaged.
    """
    if repo_id is not None:
        check_repo_id(repo_id)
    run_dir = pathlib.Path(run_dir)
    out_dir = pathlib.Path(out_dir).absolute()
    training_yaml = run_dir / "hyperparams.yaml"
    if not training_yaml.is_file():
        raise FileNotFoundError(
            f"{run_dir} has no hyperparams.yaml; give the output folder of "
            "a train_piq.py run"
        )
    if out_dir.resolve().is_relative_to(run_dir.resolve()):
        raise ValueError(
            f"{out_dir} is inside the run folder {run_dir}: the export would "
            "overwrite the run's own hyperparams.yaml and checkpoints; "
            "choose a folder outside it"
        )
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{out_dir} is not empty; choose a new folder or pass --overwrite"
        )
    files = _run_files(run_dir, training_yaml)
    _check_readable(files, run_dir)
    hparams = inference_hparams(training_yaml, repo_id or str(out_dir))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.with_name(f".{out_dir.name}.partial-{uuid.uuid4().hex}")
    staging.mkdir()
    try:
        _write_export(staging, run_dir, files, hparams, repo_id or out_dir)
        _move_into_place(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info(f"Exported {run_dir} to {out_dir}")
    return out_dir


def _check_readable(files, run_dir):
    """Raises naming the run's file (not its copy) if one is damaged."""
    for name in MODULE_CHECKPOINTS:
        fix = (
            f"move its CKPT+ folder out of {run_dir / 'save'} to export the "
            "next best checkpoint"
            if name == "psi"
            else "copy it again from the run that trained the classifier"
        )
        read_state_dict(files[name], fix)
    load_label_encoder(CategoricalEncoder(), files["label_encoder"])


def _write_export(folder, run_dir, files, hparams, source):
    """Writes the export into ``folder`` and checks that it loads."""
    (folder / "hyperparams.yaml").write_text(hparams, encoding="utf-8")
    for name, path in files.items():
        shutil.copyfile(path, folder / CHECKPOINT_FILES[name])
    interpreter = PIQAudioInterpreter.from_hparams(
        folder, run_opts={"device": "cpu"}
    )
    card = model_card(
        source=str(source),
        classes=class_names(interpreter.hparams.label_encoder),
        sample_rate=interpreter.sample_rate,
        components=_components(interpreter),
        metrics=_test_metrics(
            run_dir / "test_metrics.json", files["psi"].parent.name
        ),
    )
    (folder / "README.md").write_text(card, encoding="utf-8")


def _move_into_place(staging, out_dir):
    """Renames ``staging`` to ``out_dir``, or moves its files into an
    existing ``out_dir`` (replacing same-named files only)."""
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    for path in staging.iterdir():
        os.replace(path, out_dir / path.name)


def _run_files(run_dir, training_yaml):
    """Local paths of the four files an export copies, by loadable."""
    save_folder = run_dir / "save"
    # As the test stage ranks them: by the last run's hparams.
    metric = training_tree(training_yaml).get("best_checkpoint_metric")
    checkpoint = best_checkpoint(save_folder, metric)
    files = {
        "psi": saved_file(checkpoint.path, "psi"),
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
    check_classifier_files(
        save_folder,
        {name: files[name] for name in CLASSIFIER_PARTS},
        "the run's interpreter was trained against; restore it to export "
        "the run, or train an interpreter for the new classifier.",
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


def _test_metrics(path, checkpoint_name):
    """The run's test metrics of checkpoint ``checkpoint_name`` (its
    ``CKPT+`` folder's name), or ``{}`` (logged) when it has none or when
    they describe another checkpoint."""
    if not path.is_file():
        logger.warning(f"{path} not found: the model card has no metrics")
        return {}
    with open(path, encoding="utf-8") as stream:
        metrics = json.load(stream)
    tested = metrics.pop(TESTED_CHECKPOINT_KEY, None)
    if tested is not None and tested != checkpoint_name:
        logger.warning(
            f"{path} describes {tested}, not the exported best checkpoint "
            f"{checkpoint_name} (the run went on after its test stage, or "
            "ranked its checkpoints by another best_checkpoint_metric): the "
            "model card has no metrics. Rerun train_piq.py with the run's "
            "command to test that checkpoint, then export."
        )
        return {}
    return metrics


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

    Raises
    ------
    ValueError
        If ``repo_id`` is not ``owner/name``.
    RuntimeError
        If the upload fails (no network, no or a read-only token...); the
        message says how to upload the folder later.
    """
    check_repo_id(repo_id)
    folder = os.fspath(folder)
    api = HfApi(token=token)
    try:
        api.create_repo(
            repo_id, repo_type="model", private=private, exist_ok=True
        )
        return api.upload_folder(
            folder_path=folder,
            repo_id=repo_id,
            repo_type="model",
            commit_message="Upload PIQ interpreter exported by speechbrain-piq",
        )
    except (HubHTTPError, OSError, ValueError) as error:
        first_line = (str(error).splitlines() or [""])[0]
        raise RuntimeError(
            f"could not upload {folder} to {repo_id} "
            f"({type(error).__name__}: {first_line}); the folder is complete "
            f"and unchanged: upload it later with 'hf upload {repo_id} "
            f"{folder}' (after 'hf auth login' if you have no token saved)"
        ) from error
