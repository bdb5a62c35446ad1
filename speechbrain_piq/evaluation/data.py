"""The clips an evaluation runs on, with their ground truth when known.

Two sources:

- an ESC-50-layout folder and a fold (``audio/``, ``meta/esc50.csv``):
  the fold's clips; the demo data's metadata also carries event boxes
  (``event_onset`` .. ``distractor_high_hz``), which become ground truth;
- a manifest CSV with at least ``ID``, ``wav`` and ``class_string``
  columns (the recipes' ``save/test.csv`` works, with ``$data_root``
  replaced by ``data_root``), optionally the same box columns, or
  ``target_mask`` / ``other_mask`` files of ideal binary masks as the
  mixture benchmark writes them (``speechbrain_piq.evaluation.mixtures``).
  Relative paths are read from the manifest's folder.
"""

import logging
import math
import os
from typing import NamedTuple, Optional

import pandas as pd
import torch

from speechbrain_piq.dataio.datasets import REGION_COLUMNS
from speechbrain_piq.dataio.esc50_metadata import read_esc50_metadata

logger = logging.getLogger(__name__)

MASK_COLUMNS = ("target_mask", "other_mask")


class EvaluationClip(NamedTuple):
    """One clip to explain and what is known of where its event is."""

    clip_id: str
    path: str
    class_string: str
    event_region: Optional[tuple] = None  # onset_s, offset_s, low, high
    distractor_region: Optional[tuple] = None  # or None: no distractor
    target_mask: Optional[str] = None  # file of a [T, F] bool tensor
    other_mask: Optional[str] = None

    @property
    def ground_truth(self):
        """``"boxes"``, ``"masks"`` or None."""
        if self.target_mask is not None:
            return "masks"
        if self.event_region is not None:
            return "boxes"
        return None


def esc50_fold_clips(data_folder, fold, subset="esc50"):
    r"""The clips of one fold of an ESC-50-layout folder.

    Arguments
    ---------
    data_folder : str
        Holds ``meta/esc50.csv`` and ``audio/``.
    fold : int
        The fold to evaluate on.
    subset : str
        ``esc50`` or ``esc10``.

    Returns
    -------
    list of EvaluationClip

    Example
    -------
    >>> folder = getfixture("tmp_path")
    >>> (folder / "meta").mkdir()
    >>> _ = (folder / "meta" / "esc50.csv").write_text(
    ...     "filename,fold,target,category,esc10\n"
    ...     "1-1-A-0.wav,1,0,dog,True\n5-1-A-0.wav,5,0,dog,True\n"
    ... )
    >>> [clip.clip_id for clip in esc50_fold_clips(str(folder), 5)]
    ['5-1-A-0']
    """
    metadata_file = os.path.join(data_folder, "meta", "esc50.csv")
    if not os.path.isfile(metadata_file):
        raise FileNotFoundError(
            f"{metadata_file}: no such file; give an ESC-50-layout folder "
            "(meta/esc50.csv, audio/) or a manifest CSV"
        )
    meta = read_esc50_metadata(metadata_file, subset)
    rows = meta[meta["fold"] == int(fold)]
    if rows.empty:
        raise ValueError(
            f"{metadata_file} has no clip in fold {fold} (subset {subset})"
        )
    audio = os.path.join(data_folder, "audio")
    return [
        _clip(
            row,
            os.path.splitext(row["filename"])[0],
            os.path.join(audio, row["filename"]),
            audio,
        )
        for _, row in rows.iterrows()
    ]


def manifest_clips(manifest, data_root=None):
    r"""The clips a manifest CSV lists.

    Arguments
    ---------
    manifest : str
        CSV with ``ID``, ``wav``, ``class_string`` columns (see the
        module's docstring for the optional ones).
    data_root : str, optional
        Replaces ``$data_root`` in ``wav`` (the recipes' manifests).

    Returns
    -------
    list of EvaluationClip

    Example
    -------
    >>> path = getfixture("tmp_path") / "clips.csv"
    >>> _ = path.write_text("ID,wav,class_string\na,audio/a.wav,dog\n")
    >>> clip = manifest_clips(str(path))[0]
    >>> clip.clip_id, clip.path.endswith("audio/a.wav"), clip.ground_truth
    ('a', True, None)
    """
    if not os.path.isfile(manifest):
        raise FileNotFoundError(f"{manifest}: no such manifest file")
    table = pd.read_csv(
        manifest, dtype={"ID": str, "class_string": str, "wav": str}
    )
    missing = [c for c in ("ID", "wav", "class_string") if c not in table]
    if missing:
        raise ValueError(
            f"{manifest} lacks the column(s) {missing}; a manifest needs "
            "ID, wav and class_string"
        )
    folder = os.path.dirname(os.path.abspath(manifest))
    clips = []
    for _, row in table.iterrows():
        wav = row["wav"]
        if "$data_root" in wav:
            if data_root is None:
                raise ValueError(
                    f"{manifest}: wav paths use $data_root; pass the data "
                    "folder they are relative to (--data-root)"
                )
            wav = wav.replace("$data_root", data_root)
        clips.append(_clip(row, row["ID"], os.path.join(folder, wav), folder))
    return clips


def _clip(row, clip_id, path, folder):
    """An ``EvaluationClip`` from a metadata or manifest row."""
    boxes = {}
    for key, columns in REGION_COLUMNS.items():
        if all(column in row for column in columns):
            values = tuple(float(row[column]) for column in columns)
            boxes[key] = None if any(map(math.isnan, values)) else values
    masks = {
        column: os.path.join(folder, row[column])
        for column in MASK_COLUMNS
        if column in row and isinstance(row[column], str)
    }
    return EvaluationClip(
        clip_id=str(clip_id),
        path=path,
        class_string=str(row["class_string"]),
        event_region=boxes.get("event_region"),
        distractor_region=boxes.get("distractor_region"),
        **masks,
    )


def load_cells(path, n_frames, n_bins):
    """Reads a ``[T, F]`` bool ground-truth mask, cropped to the bins the
    maps cover.

    Arguments
    ---------
    path : str
        File written with ``torch.save`` (``[T', F']`` bool).
    n_frames, n_bins : int
        The maps' size; the stored mask must cover it.

    Returns
    -------
    torch.Tensor
        ``[n_frames, n_bins]`` bool.
    """
    cells = torch.load(path, weights_only=True)
    if cells.dim() != 2 or cells.shape[0] < n_frames or cells.shape[1] < n_bins:
        raise ValueError(
            f"{path}: ground-truth mask of shape {list(cells.shape)} does "
            f"not cover the [{n_frames}, {n_bins}] spectrogram; build the "
            "mixtures with the interpreter's STFT settings"
        )
    return cells[:n_frames, :n_bins].bool()
