r"""A real-audio localisation benchmark: two-source mixtures whose ground
truth is each source's ideal binary mask.

Synthetic events are too easy to be the only proof. Here each clip of the
chosen fold is mixed with a clip of another class from the same fold
(drawn with a seeded generator), at each level ``w`` (the target's
weight): both sources are peak-normalised, the mixture is
``w target + (1 - w) other``, and then scaled to a peak of 1 (which scales
both sources alike). ``w = 0.8`` is upstream's out-of-distribution
protocol (0.8 x target + 0.2 x other); ``0.5`` mixes them equally.

Because the STFT is linear, the mixture's spectrogram is the sum of the
two sources'. The target's ideal binary mask is the bins where the
target's magnitude exceeds the other's, and the other's where it is the
reverse, both among the bins within ``floor_db`` of the mixture's loudest
bin (fainter bins belong to neither). Localisation scores the maps
against the target's mask and ``distractor_mass`` is their share on the
other's.

Written to ``OUT``: ``mixtures/<id>.wav`` (float WAV at the sample rate),
``masks/<id>_target.pt`` and ``masks/<id>_other.pt`` (``[T, F]`` bool),
and ``mixtures.csv`` (``ID, wav, class_string, other_class, target_weight,
target_file, other_file, target_mask, other_mask``), which
``speechbrain-piq evaluate`` reads as a manifest::

    python -m speechbrain_piq.evaluation.mixtures ESC-50-master OUT \
        --subset esc10 --fold 5
"""

import argparse
import csv
import os
import random

import soundfile as sf
import torch

from speechbrain_piq.dataio.clips import ClipLoader
from speechbrain_piq.evaluation.data import esc50_fold_clips
from speechbrain_piq.features import LogPowerSpectrogram

DEFAULT_LEVELS = (0.8, 0.5)
MANIFEST = "mixtures.csv"
COLUMNS = (
    "ID",
    "wav",
    "class_string",
    "other_class",
    "target_weight",
    "target_file",
    "other_file",
    "target_mask",
    "other_mask",
)


def ideal_binary_masks(target, other, features, floor_db=40.0):
    """The ideal binary masks of two sources of a mixture.

    Arguments
    ---------
    target, other : torch.Tensor
        ``[samples]`` the two (scaled) sources; the mixture is their sum.
    features : speechbrain_piq.features.LogPowerSpectrogram
        The classifier's spectrogram (its STFT defines the bins).
    floor_db : float
        Bins more than this many dB below the mixture's loudest bin belong
        to neither source.

    Returns
    -------
    target_cells, other_cells : torch.Tensor
        ``[T, F]`` bool, disjoint.

    Example
    -------
    >>> t = torch.arange(16000) / 16000
    >>> low = torch.sin(2 * torch.pi * 500 * t)
    >>> high = 0.5 * torch.sin(2 * torch.pi * 4000 * t)
    >>> target, other = ideal_binary_masks(low, high, LogPowerSpectrogram())
    >>> bins = torch.arange(513) * 16000 / 1024
    >>> float(bins[target.any(0)].mean()) < 1000 < 3000 < float(
    ...     bins[other.any(0)].mean()
    ... )
    True
    >>> bool((target & other).any())
    False
    """
    with torch.no_grad():
        logpower, _ = features(torch.stack([target, other]))
    magnitude = torch.expm1(logpower)  # 2 t f
    loudest = (magnitude[0] + magnitude[1]).max()
    audible = magnitude.amax(0) >= loudest * 10 ** (-floor_db / 20)
    target_cells = (magnitude[0] > magnitude[1]) & audible
    other_cells = (magnitude[1] > magnitude[0]) & audible
    return target_cells, other_cells


def build_mixtures(
    data_folder,
    out_folder,
    fold=5,
    subset="esc10",
    levels=DEFAULT_LEVELS,
    seed=1234,
    sample_rate=16000,
    clip_seconds=5.0,
    features=None,
    floor_db=40.0,
):
    """Writes the mixture benchmark of one fold (see the module's
    docstring).

    Arguments
    ---------
    data_folder : str
        ESC-50-layout folder (``meta/esc50.csv``, ``audio/``).
    out_folder : str
        Where the mixtures, masks and ``mixtures.csv`` go.
    fold : int
        The fold whose clips are mixed (with each other).
    subset : str
        ``esc10`` or ``esc50``.
    levels : sequence of float
        Target weights in (0, 1).
    seed : int
        Seeds the choice of the other clip.
    sample_rate : int
        Rate of the mixtures (the classifier's).
    clip_seconds : float
        Length of the mixtures (the classifier's clips).
    features : speechbrain_piq.features.LogPowerSpectrogram, optional
        The classifier's spectrogram; the recipes' by default.
    floor_db : float
        See :func:`ideal_binary_masks`.

    Returns
    -------
    str
        The path of ``mixtures.csv``.
    """
    for level in levels:
        if not 0 < level < 1:
            raise ValueError(f"mixture levels must lie in (0, 1), got {level}")
    features = features or LogPowerSpectrogram(sample_rate=sample_rate)
    clips = esc50_fold_clips(data_folder, fold, subset)
    if len({clip.class_string for clip in clips}) < 2:
        raise ValueError(
            f"fold {fold} of {data_folder} has clips of one class only; "
            "mixtures need two classes"
        )
    load_clip = ClipLoader(sample_rate, clip_seconds)
    chooser = random.Random(seed)
    for folder in ("mixtures", "masks"):
        os.makedirs(os.path.join(out_folder, folder), exist_ok=True)
    rows = []
    for clip in clips:
        others = [c for c in clips if c.class_string != clip.class_string]
        other = chooser.choice(others)
        target_wav, other_wav = load_clip(clip.path), load_clip(other.path)
        for level in levels:
            mix_id = f"{clip.clip_id}__{other.clip_id}__w{level:g}"
            rows.append(
                _write_mixture(
                    out_folder,
                    mix_id,
                    level * target_wav,
                    (1 - level) * other_wav,
                    features,
                    floor_db,
                    sample_rate,
                    {
                        "ID": mix_id,
                        "class_string": clip.class_string,
                        "other_class": other.class_string,
                        "target_weight": level,
                        "target_file": os.path.basename(clip.path),
                        "other_file": os.path.basename(other.path),
                    },
                )
            )
    manifest = os.path.join(out_folder, MANIFEST)
    with open(manifest, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def _write_mixture(
    folder, mix_id, target, other, features, floor_db, rate, row
):
    """Writes one mixture and its masks; returns its manifest row."""
    peak = (target + other).abs().max().clamp_min(1e-8)
    target, other = target / peak, other / peak
    target_cells, other_cells = ideal_binary_masks(
        target, other, features, floor_db
    )
    wav = os.path.join("mixtures", f"{mix_id}.wav")
    sf.write(os.path.join(folder, wav), (target + other).numpy(), rate, "FLOAT")
    masks = {}
    for name, cells in (("target", target_cells), ("other", other_cells)):
        masks[f"{name}_mask"] = os.path.join("masks", f"{mix_id}_{name}.pt")
        torch.save(cells.clone(), os.path.join(folder, masks[f"{name}_mask"]))
    return {**row, "wav": wav, **masks}


def main(argv=None):
    """``python -m speechbrain_piq.evaluation.mixtures``: see the module.

    Arguments
    ---------
    argv : list of str, optional
        Command-line arguments.
    """
    parser = argparse.ArgumentParser(
        description="Build two-source mixtures with ideal-binary-mask "
        "ground truth from an ESC-50-layout folder."
    )
    parser.add_argument("data_folder", help="ESC-50-layout folder")
    parser.add_argument("out_folder", help="folder to write")
    parser.add_argument("--fold", type=int, default=5)
    parser.add_argument("--subset", default="esc10", choices=("esc10", "esc50"))
    parser.add_argument(
        "--levels", type=float, nargs="+", default=list(DEFAULT_LEVELS)
    )
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--floor-db", type=float, default=40.0)
    args = parser.parse_args(argv)
    manifest = build_mixtures(
        args.data_folder,
        args.out_folder,
        fold=args.fold,
        subset=args.subset,
        levels=args.levels,
        seed=args.seed,
        floor_db=args.floor_db,
    )
    print(manifest)


if __name__ == "__main__":
    main()
