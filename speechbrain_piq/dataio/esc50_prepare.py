"""ESC-50 (or ESC-10) as SpeechBrain CSV manifests, one per split.

``prepare_esc50`` writes ``train.csv``, ``valid.csv`` and ``test.csv`` with
the columns ``ID, duration, wav, fold, class_string, target, esc50_target``
(plus any extra metadata columns, e.g. the demo dataset's event boxes), where
``wav`` is ``$data_root/audio/<filename>`` so the data can move. Every clip
is decoded once here: files missing from disk, unreadable, empty or holding
non-finite samples are skipped with a logged reason and counted in the
report. The manifests are reused while the options, the metadata file and
the audio files present (names, sizes and modification times) stay the
same, so a file edited or replaced in place is checked again. In a dataset with event boxes (the demo's), a clip whose
box is missing or inverted is skipped too, named with its metadata row.
Beside them,
``label_encoder.txt`` numbers the classes in upstream's order (see
``label_encoders``).
"""

import hashlib
import json
import os

import pandas as pd
import torch
from speechbrain.dataio import audio_io
from speechbrain.utils.logger import get_logger

from speechbrain_piq.dataio.clip_cache import source_key
from speechbrain_piq.dataio.clips import SILENCE_PEAK, all_finite
from speechbrain_piq.dataio.esc50_download import (
    check_esc50_folder,
    download_esc50,
    esc50_paths,
    is_empty_folder,
)
from speechbrain_piq.dataio.esc50_metadata import (
    ESC50_COLUMNS,
    check_folds,
    check_subset,
    classes_in_label_order,
    read_esc50_metadata,
)
from speechbrain_piq.dataio.label_encoders import write_data_label_encoder
from speechbrain_piq.dataio.regions import region_problems

logger = get_logger(__name__)

SPLITS = ("train", "valid", "test")
MANIFEST_COLUMNS = [
    "ID",
    "duration",
    "wav",
    "fold",
    "class_string",
    "target",
    "esc50_target",
]
RECORD_FILE = "esc50_prepare.json"
# How the report names clips skipped for a missing or inverted box.
BAD_BOX = "with a missing or inverted event or distractor box"
# What inspect_clip says of a usable clip that holds only (near) zeros.
SILENT = "silent"
# Named in the logged summary; the full lists are in the record file.
NAMES_SHOWN = 5


def prepare_esc50(
    data_folder,
    save_folder,
    train_folds=(1, 2, 3),
    valid_folds=(4,),
    test_folds=(5,),
    subset="esc50",
    download=True,
):
    r"""Write the ESC-50 manifests and label encoder under ``save_folder``.

    Run it on the main process only (``run_on_main``); the other processes
    then read what it wrote.

    Arguments
    ---------
    data_folder : str
        The ``ESC-50-master`` folder (``audio/*.wav``, ``meta/esc50.csv``).
        When it is missing or empty and ``download`` is True, the dataset
        is downloaded into it.
    save_folder : str
        Where ``{train,valid,test}.csv``, ``label_encoder.txt`` and the
        record ``esc50_prepare.json`` (options and skip report) go.
    train_folds, valid_folds, test_folds : int or iterable of int
        ESC-50 folds (1..5) of each split, pairwise disjoint.
    subset : str
        ``"esc50"`` (50 classes) or ``"esc10"`` (the 10-class ESC-10
        benchmark, targets re-indexed 0..9).
    download : bool
        Whether to download the dataset when ``data_folder`` has none.

    Returns
    -------
    dict
        ``{"train": path, "valid": path, "test": path}`` of the manifests.

    Raises
    ------
    ValueError
        For bad folds or subset (before any work), bad metadata, or a split
        left without a readable clip.
    FileNotFoundError
        When ``data_folder`` lacks ``meta/esc50.csv`` or ``audio/``.

    Example
    -------
    >>> data_folder = getfixture("tmp_path") / "ESC-50-master"
    >>> (data_folder / "audio").mkdir(parents=True)
    >>> (data_folder / "meta").mkdir()
    >>> rows = ["filename,fold,target,category,esc10"]
    >>> for fold in range(1, 6):
    ...     name = f"{fold}-1-A-0.wav"
    ...     wav = torch.ones(1, 80)
    ...     audio_io.save(str(data_folder / "audio" / name), wav, 16000)
    ...     rows.append(f"{name},{fold},0,dog,True")
    >>> _ = (data_folder / "meta" / "esc50.csv").write_text("\n".join(rows))
    >>> manifests = prepare_esc50(str(data_folder), str(data_folder / "save"))
    >>> pd.read_csv(manifests["train"])[["ID", "wav", "target"]]
            ID                         wav  target
    0  1-1-A-0  $data_root/audio/1-1-A-0.wav       0
    1  2-1-A-0  $data_root/audio/2-1-A-0.wav       0
    2  3-1-A-0  $data_root/audio/3-1-A-0.wav       0
    """
    folds = check_folds(train_folds, valid_folds, test_folds)
    check_subset(subset)
    _ensure_dataset(data_folder, download)
    metadata_file, audio_folder = esc50_paths(data_folder)
    meta = read_esc50_metadata(metadata_file, subset)
    on_disk = set(os.listdir(audio_folder))
    record = {
        "options": {
            "data_folder": os.path.abspath(data_folder),
            "train_folds": list(folds["train"]),
            "valid_folds": list(folds["valid"]),
            "test_folds": list(folds["test"]),
            "subset": subset,
        },
        "fingerprint": {
            "metadata_md5": _md5_of_file(metadata_file),
            "audio_files_md5": _md5_of_audio_files(
                audio_folder, on_disk.intersection(meta["filename"])
            ),
        },
    }
    manifests = {
        split: os.path.join(save_folder, f"{split}.csv") for split in SPLITS
    }
    classes = classes_in_label_order(meta)
    if _can_reuse(save_folder, record, manifests):
        logger.info(
            f"Reusing the ESC-50 manifests in {save_folder}: they were "
            "made with the same options and data."
        )
        write_data_label_encoder(save_folder, classes)
        return manifests

    os.makedirs(save_folder, exist_ok=True)
    record_path = os.path.join(save_folder, RECORD_FILE)
    # Drop the old record first so an interrupted run is never reused.
    if os.path.isfile(record_path):
        os.remove(record_path)
    logger.info(
        f"Preparing {subset} ({len(classes)} classes) from {data_folder} "
        f"into {save_folder}"
    )
    report = {}
    bad_boxes = {
        index: f"(row {index + 1} after the header of {metadata_file}): "
        f"{reason}; fix or remove the row"
        for index, reason in region_problems(meta).items()
    }
    for split in SPLITS:
        rows = meta[meta["fold"].isin(folds[split])]
        manifest, report[split] = _make_manifest(
            rows, audio_folder, on_disk, folds[split], classes, bad_boxes
        )
        _log_summary(split, report[split], record_path)
        if manifest.empty:
            raise ValueError(
                f"The {split} split (folds {folds[split]}) has no usable "
                f"clip in {audio_folder} "
                f"({_count_skipped(report[split]['skipped'])}); check the "
                "data folder or choose other folds"
            )
        manifest.to_csv(manifests[split], index=False, na_rep="nan")
    write_data_label_encoder(save_folder, classes)
    record["classes"] = classes
    record["report"] = report
    with open(record_path, "w", encoding="utf-8") as file:
        json.dump(record, file, indent=2)
    return manifests


def _ensure_dataset(data_folder, download):
    """Download ESC-50 into an empty ``data_folder``, then check it."""
    if download and is_empty_folder(data_folder):
        logger.info(f"No ESC-50 in {data_folder}: downloading it")
        download_esc50(data_folder)
    check_esc50_folder(data_folder)


def _make_manifest(rows, audio_folder, on_disk, folds, classes, bad_boxes):
    """Return one split's manifest and its report of kept/skipped clips
    (``bad_boxes``: why rows, by index, have an unusable box)."""
    extra_columns = [
        column
        for column in rows.columns
        if column not in ESC50_COLUMNS + ("class_string",)
        and column not in MANIFEST_COLUMNS
    ]
    entries = []
    skipped = {}
    silent = []
    for index, row in zip(rows.index, rows.to_dict("records")):
        filename = row["filename"]
        if index in bad_boxes:
            logger.warning(f"Skipping {filename} {bad_boxes[index]}")
            skipped.setdefault(BAD_BOX, []).append(filename)
            continue
        if filename not in on_disk:
            skipped.setdefault("missing from disk", []).append(filename)
            continue
        duration, problem = inspect_clip(os.path.join(audio_folder, filename))
        if problem == SILENT:
            silent.append(filename)
        elif problem is not None:
            logger.warning(f"Skipping {filename}: {problem}")
            kind = problem.split(":")[0]
            skipped.setdefault(kind, []).append(filename)
            continue
        entry = {
            "ID": os.path.splitext(filename)[0],
            "duration": duration,
            "wav": f"$data_root/audio/{filename}",
            "fold": row["fold"],
            "class_string": row["class_string"],
            "target": row["target"],
            "esc50_target": row["esc50_target"],
        }
        entry.update({column: row[column] for column in extra_columns})
        entries.append(entry)
    manifest = pd.DataFrame(entries, columns=MANIFEST_COLUMNS + extra_columns)
    present = set(manifest["class_string"])
    report = {
        "folds": list(folds),
        "clips": len(manifest),
        "classes": sorted(present),
        "absent_classes": sorted(set(classes) - present),
        "skipped": skipped,
        "silent": silent,
    }
    return manifest, report


def inspect_clip(path):
    """Decode a file once; return its duration or why it cannot be used.

    Arguments
    ---------
    path : str
        An audio file.

    Returns
    -------
    duration : float or None
        Length in seconds, None when the file is unusable.
    problem : str or None
        ``"unreadable: <error>"``, ``"empty"`` or ``"non-finite samples"``
        for an unusable file; ``"silent"`` for a usable one whose samples
        are all (near) zero; None otherwise.

    Example
    -------
    >>> path = str(getfixture("tmpdir") / "half_second.wav")
    >>> audio_io.save(path, torch.full((1, 8000), 0.5), 16000)
    >>> inspect_clip(path)
    (0.5, None)
    >>> audio_io.save(path, torch.zeros(1, 8000), 16000)
    >>> inspect_clip(path)
    (0.5, 'silent')
    >>> inspect_clip(str(getfixture("tmpdir") / "none.wav"))[1][:11]
    'unreadable:'
    """
    try:
        sig, sample_rate = audio_io.load(path, dtype=torch.float32)
    except RuntimeError as error:
        return None, f"unreadable: {error.__cause__ or error}"
    if sig.numel() == 0:
        return None, "empty"
    if not all_finite(sig):
        return None, "non-finite samples"
    duration = sig.shape[1] / sample_rate
    if sig.abs().max() < SILENCE_PEAK:
        return duration, SILENT
    return duration, None


def _log_summary(split, report, record_path):
    """Log what a split holds, what it skipped and which classes it lacks."""
    logger.info(
        f"{split}: {report['clips']} clips from folds {tuple(report['folds'])} "
        f"({len(report['classes'])} classes)"
    )
    for problem, names in report["skipped"].items():
        logger.warning(
            f"{split}: skipped {len(names)} clip(s) {problem}: "
            f"{some_of(names)} (all listed in {record_path})"
        )
    if report["silent"]:
        logger.warning(
            f"{split}: {len(report['silent'])} clip(s) are silent (all "
            f"samples zero), kept: {some_of(report['silent'])} (all listed "
            f"in {record_path}); a classifier and its interpreter learn "
            "nothing from them"
        )
    absent = report["absent_classes"]
    if absent and report["clips"]:
        n_classes = len(absent) + len(report["classes"])
        logger.warning(
            f"{split}: no clip of {len(absent)} of the {n_classes} "
            f"classes ({some_of(absent)})"
        )


def some_of(names):
    """Name the first few of ``names`` and count the rest.

    Arguments
    ---------
    names : list of str
        What to name, e.g. skipped files.

    Returns
    -------
    str
        The first ``NAMES_SHOWN`` names, then how many more there are.

    Example
    -------
    >>> some_of(["a", "b"])
    'a, b'
    >>> some_of([str(i) for i in range(8)])
    '0, 1, 2, 3, 4 and 3 more'
    """
    shown = ", ".join(names[:NAMES_SHOWN])
    if len(names) <= NAMES_SHOWN:
        return shown
    return f"{shown} and {len(names) - NAMES_SHOWN} more"


def _count_skipped(skipped):
    """Describe skip counts, e.g. ``"3 missing from disk, 1 empty"``."""
    if not skipped:
        return "the metadata lists none"
    return ", ".join(
        f"{len(names)} {problem}" for problem, names in skipped.items()
    )


def _can_reuse(save_folder, record, manifests):
    """Whether earlier outputs in ``save_folder`` match ``record``."""
    record_path = os.path.join(save_folder, RECORD_FILE)
    if not all(
        os.path.isfile(path) for path in [record_path, *manifests.values()]
    ):
        return False
    with open(record_path, encoding="utf-8") as file:
        try:
            previous = json.load(file)
        except json.JSONDecodeError:
            return False
    return all(previous.get(key) == record[key] for key in record)


def _md5_of_file(path):
    """Return the MD5 hex digest of a (small) file."""
    with open(path, "rb") as file:
        return hashlib.md5(file.read()).hexdigest()


def _md5_of_audio_files(audio_folder, names):
    """Return the MD5 hex digest of the names and versions of audio files.

    Each file counts with its ``source_key`` (size and ``mtime_ns``), so a
    file rewritten under the same name (e.g. truncated) changes the digest
    and the manifests are remade, the file checked again.
    """
    lines = [
        f"{name}|{source_key(os.path.join(audio_folder, name))}"
        for name in sorted(names)
    ]
    return hashlib.md5("\n".join(lines).encode("utf-8")).hexdigest()
