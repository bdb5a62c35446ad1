"""SpeechBrain datasets over the ESC-50 manifests written by ``prepare_esc50``.

``dataio_prep`` only reads the manifests and the label encoder, so every
DDP process can call it; clips are decoded lazily by the audio pipeline, and
(by default) prepared once into an on-disk cache under ``save_folder``.
"""

import os

import pandas as pd
import torch
from speechbrain.dataio.dataset import (
    DynamicItemDataset,
    add_dynamic_item,
    set_output_keys,
)
from speechbrain.utils.distributed import if_main_process
from speechbrain.utils.logger import get_logger

from speechbrain_piq.dataio.clip_cache import ClipCache, clip_cache_folder
from speechbrain_piq.dataio.clips import ClipLoader
from speechbrain_piq.dataio.esc50_prepare import SPLITS, some_of
from speechbrain_piq.dataio.label_encoders import run_label_encoder
from speechbrain_piq.dataio.regions import REGION_COLUMNS, region_problems

logger = get_logger(__name__)

# Clips shorter than this fraction of ``clip_seconds`` are reported: ESC-50's
# clips all last 5 s, so one that short is most likely a truncated file.
# They are still used (zero-padded), since other datasets have short clips.
SHORT_CLIP_FRACTION = 0.5
# Read as text: pandas would turn a class "1" into an int and "True" into a
# bool, which the label encoder then no longer finds.
MANIFEST_TEXT_COLUMNS = ("ID", "class_string")


class AudioPipeline:
    """The ``"sig"`` dynamic item: ``(id, wav) -> clip``, cached or not.

    A module-level class rather than a closure so that DataLoader workers
    started with ``spawn`` can pickle it.

    Arguments
    ---------
    load_clip : ClipLoader
        Turns a file into a fixed-length clip.
    cache : ClipCache or None
        Where prepared clips are kept; None decodes every time.

    Example
    -------
    >>> from speechbrain.dataio import audio_io
    >>> path = str(getfixture("tmpdir") / "tone.wav")
    >>> audio_io.save(path, torch.rand(1, 4000) - 0.5, 8000)
    >>> pipeline = AudioPipeline(ClipLoader(16000, clip_seconds=1.0), None)
    >>> pipeline("tone", path).shape
    torch.Size([16000])
    """

    def __init__(self, load_clip, cache=None):
        self.load_clip = load_clip
        self.cache = cache

    def __call__(self, clip_id, path):
        """Return the prepared clip of ``path``."""
        if self.cache is None:
            return self.load_clip(path)
        return self.cache.fetch(clip_id, path, lambda: self.load_clip(path))


def region_tensor(*bounds):
    """Stack a box's bounds into a float32 tensor (NaN stays NaN).

    Arguments
    ---------
    *bounds : float
        Onset, offset (seconds), low and high frequency (Hz).

    Returns
    -------
    torch.Tensor
        Shape ``[4]``, float32.

    Example
    -------
    >>> region_tensor(0.5, 1.5, 200.0, 800.0)
    tensor([5.0000e-01, 1.5000e+00, 2.0000e+02, 8.0000e+02])
    """
    return torch.tensor(bounds, dtype=torch.float32)


def dataio_prep(
    manifests,
    data_folder,
    save_folder,
    sample_rate=16000,
    clip_seconds=5.0,
    use_clip_cache=True,
    classifier_label_encoder=None,
):
    r"""Build the train/valid/test datasets and the label encoder.

    Arguments
    ---------
    manifests : dict
        ``{"train": csv, "valid": csv, "test": csv}``, as returned by
        ``prepare_esc50``.
    data_folder : str
        The ``ESC-50-master`` folder; replaces ``$data_root`` in ``wav``.
    save_folder : str
        Holds ``label_encoder.txt`` (read, or written from the manifests
        when absent: see ``run_label_encoder``) and the clip cache.
    sample_rate : int
        Sample rate of ``"sig"``, in Hz.
    clip_seconds : float
        Duration of ``"sig"``: clips are cropped or zero-padded to it. The
        clips shorter than ``SHORT_CLIP_FRACTION`` (half) of it are kept but
        named in a logged warning, as they may be truncated files.
    use_clip_cache : bool
        Keep prepared clips in ``save_folder/clips_<rate>hz_<seconds>s`` so
        each file is decoded and resampled once, not once per epoch.
    classifier_label_encoder : str, optional
        The ``label_encoder.txt`` the classifier was trained with; it then
        numbers the classes (and replaces the save folder's file).

    Returns
    -------
    datasets : dict
        ``{"train", "valid", "test"}`` -> ``DynamicItemDataset`` with the
        output keys ``id``, ``sig`` (float32 ``[round(clip_seconds *
        sample_rate)]``, peak-normalised), ``class_string``,
        ``class_string_encoded`` (``LongTensor`` ``[1]``), and
        ``event_region`` / ``distractor_region`` (float32 ``[4]``) when the
        manifests have those columns.
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        Maps ``class_string`` to the classifier's output index (see
        ``label_encoders.run_label_encoder``).

    Example
    -------
    >>> from speechbrain.dataio import audio_io
    >>> from speechbrain_piq.dataio.esc50_prepare import prepare_esc50
    >>> data_folder = getfixture("tmp_path") / "ESC-50-master"
    >>> (data_folder / "audio").mkdir(parents=True)
    >>> (data_folder / "meta").mkdir()
    >>> rows = ["filename,fold,target,category,esc10"]
    >>> for fold in range(1, 6):
    ...     name = f"{fold}-1-A-0.wav"
    ...     wav = torch.rand(1, 44100) - 0.5
    ...     audio_io.save(str(data_folder / "audio" / name), wav, 44100)
    ...     rows.append(f"{name},{fold},0,dog,True")
    >>> _ = (data_folder / "meta" / "esc50.csv").write_text("\n".join(rows))
    >>> save_folder = str(data_folder / "save")
    >>> manifests = prepare_esc50(str(data_folder), save_folder)
    >>> datasets, label_encoder = dataio_prep(
    ...     manifests, str(data_folder), save_folder, clip_seconds=2.0
    ... )
    >>> item = datasets["train"][0]
    >>> item["id"], item["sig"].shape, item["class_string_encoded"]
    ('1-1-A-0', torch.Size([32000]), tensor([0]))
    """
    missing = [split for split in SPLITS if split not in manifests]
    if missing:
        raise ValueError(
            f"dataio_prep needs a manifest for each of {SPLITS}; "
            f"{missing} missing from {manifests}"
        )
    tables = {split: _read_manifest(manifests[split]) for split in SPLITS}
    label_encoder = run_label_encoder(
        save_folder, tables, classifier_label_encoder
    )
    if if_main_process():
        _warn_short_clips(tables, manifests, clip_seconds)

    load_clip = ClipLoader(sample_rate, clip_seconds)
    cache = None
    if use_clip_cache:
        cache = ClipCache(
            clip_cache_folder(save_folder, sample_rate, clip_seconds),
            sample_rate,
            load_clip.n_samples,
        )
    output_keys = ["id", "sig", "class_string", "class_string_encoded"]
    region_columns = _region_columns(tables)
    datasets = {}
    for split in SPLITS:
        datasets[split] = DynamicItemDataset.from_csv(
            manifests[split],
            replacements={"data_root": data_folder},
            col_types={
                column: float
                for columns in region_columns.values()
                for column in columns
            },
        )
    splits = list(datasets.values())
    add_dynamic_item(
        splits, AudioPipeline(load_clip, cache), ["id", "wav"], "sig"
    )
    add_dynamic_item(
        splits,
        label_encoder.encode_label_torch,
        "class_string",
        "class_string_encoded",
    )
    for key, columns in region_columns.items():
        add_dynamic_item(splits, region_tensor, list(columns), key)
        output_keys.append(key)
    set_output_keys(splits, output_keys)
    return datasets, label_encoder


def _read_manifest(path):
    """Read a manifest, or raise naming the file and what it lacks."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Manifest {path} not found; run prepare_esc50 first"
        )
    table = pd.read_csv(
        path, dtype={column: str for column in MANIFEST_TEXT_COLUMNS}
    )
    needed = ["ID", "duration", "wav", "class_string", "target"]
    lacking = [column for column in needed if column not in table.columns]
    if lacking:
        raise ValueError(
            f"Manifest {path} lacks column(s) {lacking}; remake it with "
            "prepare_esc50"
        )
    problems = region_problems(table)
    if problems:
        index, reason = next(iter(problems.items()))
        raise ValueError(
            f"Manifest {path}, row {index + 1} after the header (clip "
            f"{table['ID'][index]}): {reason}; prepare_esc50 now skips such "
            "clips: delete the train, valid and test manifests to remake them"
        )
    return table


def _warn_short_clips(tables, manifests, clip_seconds):
    """Log the clips much shorter than ``clip_seconds``, split by split."""
    shortest = SHORT_CLIP_FRACTION * clip_seconds
    for split, table in tables.items():
        short = table[table["duration"] < shortest]
        if len(short):
            names = [
                f"{clip_id} ({duration:.3g} s)"
                for clip_id, duration in zip(short["ID"], short["duration"])
            ]
            logger.warning(
                f"{split}: {len(short)} clip(s) shorter than {shortest:g} s "
                f"({SHORT_CLIP_FRACTION:.0%} of clip_seconds {clip_seconds:g}) "
                f"will be mostly zero padding: {some_of(names)}. A truncated "
                "file reads short: check these (durations in "
                f"{manifests[split]})."
            )


def _region_columns(tables):
    """Return the region outputs whose columns every manifest has."""
    found = {}
    for key, columns in REGION_COLUMNS.items():
        present = [
            all(column in table.columns for column in columns)
            for table in tables.values()
        ]
        partly = [
            column
            for table in tables.values()
            for column in columns
            if column in table.columns
        ]
        if all(present):
            found[key] = columns
        elif partly:
            raise ValueError(
                f"The manifests have only some of the {key} columns "
                f"{columns} (found {sorted(set(partly))}); all manifests "
                "need all four"
            )
    return found
