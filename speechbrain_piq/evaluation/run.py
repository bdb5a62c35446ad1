"""``evaluate``: every method on the same clips, the same frozen
classifier and the same metric code.

Each batch of clips goes through one interpretation pass
(:func:`speechbrain_piq.interpretation.interpret`), which fixes the
spectrogram bins every map covers and the class it explains (the one the
classifier predicts on the whole clip); each method then maps those bins
(``speechbrain_piq.evaluation.methods``) and
``speechbrain_piq.evaluation.scores`` scores the maps.
"""

import logging
import os
import tempfile

import torch
from hyperpyyaml import load_hyperpyyaml
from tqdm import tqdm

from speechbrain_piq.dataio.clips import ClipLoader
from speechbrain_piq.evaluation.data import load_cells
from speechbrain_piq.evaluation.figure import FIGURE_FILE, plot_maps
from speechbrain_piq.evaluation.methods import (
    METHODS,
    MethodContext,
    parse_methods,
)
from speechbrain_piq.evaluation.report import summarize, write_report
from speechbrain_piq.evaluation.scores import map_scores
from speechbrain_piq.interpretation import interpret
from speechbrain_piq.metrics.localisation import region_to_tf_mask
from speechbrain_piq.plotting import SpectrogramGrid

logger = logging.getLogger(__name__)

# Used when neither the export nor the run names them (recipes' values).
DEFAULT_MASK_TH = 0.35
DEFAULT_CLIP_SECONDS = 5.0


def is_training_run(source):
    """Whether ``source`` is a ``train_piq.py`` output folder (rather than
    an exported interpreter or a hub id).

    Arguments
    ---------
    source : str

    Returns
    -------
    bool

    Example
    -------
    >>> is_training_run(str(getfixture("tmp_path")))
    False
    """
    return os.path.isdir(os.path.join(source, "save")) and os.path.isfile(
        os.path.join(source, "hyperparams.yaml")
    )


def load_interpreter(source, device="cpu"):
    """Loads an exported interpreter, a hub one, or a training run's best
    checkpoint (exported into a temporary folder first).

    Arguments
    ---------
    source : str
        Exported folder, hub repo id or ``train_piq.py`` output folder.
    device : str
        Torch device.

    Returns
    -------
    interpreter : speechbrain_piq.inference.PIQAudioInterpreter
    settings : dict
        ``mask_th`` and ``clip_seconds`` of the run (recipes' defaults
        when it does not say).
    """
    from speechbrain_piq.inference.export import export_run
    from speechbrain_piq.inference.interpreter import PIQAudioInterpreter

    run_options = {"run_opts": {"device": device}}
    if not is_training_run(source):
        interpreter = PIQAudioInterpreter.from_hparams(source, **run_options)
        return interpreter, _settings(interpreter.hparams, {})
    with open(
        os.path.join(source, "hyperparams.yaml"), encoding="utf-8"
    ) as fin:
        run_hparams = _scalars(fin.read())
    with tempfile.TemporaryDirectory(prefix="piq-evaluate-") as folder:
        exported = export_run(source, os.path.join(folder, "interpreter"))
        interpreter = PIQAudioInterpreter.from_hparams(
            str(exported), savedir=os.path.join(folder, "loaded"), **run_options
        )
    return interpreter, _settings(interpreter.hparams, run_hparams)


def _settings(hparams, run_hparams):
    """The run's ``mask_th`` and ``clip_seconds``: the export's, the
    training yaml's, or the recipes' defaults."""
    return {
        key: float(getattr(hparams, key, run_hparams.get(key, default)))
        for key, default in (
            ("mask_th", DEFAULT_MASK_TH),
            ("clip_seconds", DEFAULT_CLIP_SECONDS),
        )
    }


def _scalars(yaml_text):
    """``mask_th`` and ``clip_seconds`` of a training yaml, if set."""
    values = {}
    for line in yaml_text.splitlines():
        key, _, value = line.partition(":")
        if key in ("mask_th", "clip_seconds") and value.strip():
            values[key] = float(
                load_hyperpyyaml(f"v: {value.split('#')[0]}")["v"]
            )
    return values


def evaluate(
    source,
    clips,
    out_folder,
    methods="all",
    device="cpu",
    batch_size=8,
    steps=20,
    seed=1234,
    figure_clips=4,
    data_description="the given clips",
):
    """Runs and scores every method on ``clips``; writes the report.

    Arguments
    ---------
    source : str
        The interpreter (see :func:`load_interpreter`).
    clips : list of speechbrain_piq.evaluation.data.EvaluationClip
        What to explain (see ``speechbrain_piq.evaluation.data``).
    out_folder : str
        Where ``evaluation.{md,csv,json}``, the per-clip CSV and
        ``evaluation.png`` go.
    methods : str or list of str
        Method names (``speechbrain_piq.evaluation.methods.METHODS``) or
        ``"all"``.
    device : str
        Torch device.
    batch_size : int
        Clips per interpretation pass.
    steps : int
        Steps of the deletion / insertion curves.
    seed : int
        Seeds ``random`` and ``smoothgrad``.
    figure_clips : int
        Clips drawn in the figure (the first ones).
    data_description : str
        Names the data in the report.

    Returns
    -------
    dict
        ``{method: {metric: mean}}``, as written to ``evaluation.json``.
    """
    methods = parse_methods(methods)
    interpreter, settings = load_interpreter(source, device)
    modules = interpreter.mods
    classifier = modules.audio_classifier
    logit_scale = float(getattr(interpreter.hparams, "logit_scale", 1.0))
    lab2ind = interpreter.hparams.label_encoder.lab2ind
    unknown = sorted({c.class_string for c in clips} - set(lab2ind))
    if unknown:
        raise ValueError(
            f"classes {unknown[:5]} of the data are not among the "
            f"interpreter's {len(lab2ind)} classes; evaluate on data of the "
            "classes its classifier was trained on"
        )
    truth_kinds = {clip.ground_truth for clip in clips}
    notes = []
    if len(truth_kinds) > 1 or None in truth_kinds:
        truth_kind = None
        notes.append(
            "localisation omitted: "
            + (
                "the data has no ground truth"
                if truth_kinds == {None}
                else "only some clips have ground truth"
            )
        )
    else:
        (truth_kind,) = truth_kinds
    context = MethodContext(
        audio_classifier=classifier,
        mask_th=float(settings["mask_th"]),
        generator=torch.Generator().manual_seed(seed),
    )
    stft = modules.compute_features.compute_stft
    grid = {
        "sample_rate": stft.sample_rate,
        "hop_length_ms": stft.hop_length * 1000 / stft.sample_rate,
        "n_fft": stft.n_fft,
    }
    load_clip = ClipLoader(interpreter.sample_rate, settings["clip_seconds"])
    per_clip = {method: {} for method in methods}
    clip_ids, correct, figure_rows = [], [], []
    batches = [
        clips[i : i + batch_size] for i in range(0, len(clips), batch_size)
    ]
    for batch in tqdm(batches, desc="evaluate", unit="batch"):
        batch, wavs = _read(batch, load_clip)
        if not batch:
            continue
        with torch.no_grad():
            found = interpret(
                modules.compute_features,
                classifier,
                modules.psi,
                wavs.to(interpreter.device),
            )
        truth = _ground_truth(batch, truth_kind, found.logpower.shape, grid)
        clip_ids += [clip.clip_id for clip in batch]
        labels = torch.tensor([lab2ind[clip.class_string] for clip in batch])
        correct += (found.predicted_class.cpu() == labels).float().tolist()
        batch_maps = {}
        for method in methods:
            maps = METHODS[method](context, found).to(found.logpower.device)
            batch_maps[method] = maps
            scores = map_scores(
                classifier, found, maps, truth, logit_scale, steps
            )
            for metric, values in scores.items():
                per_clip[method].setdefault(metric, []).extend(
                    values.cpu().tolist()
                )
        figure_rows += _figure_rows(
            batch,
            found,
            truth,
            batch_maps,
            interpreter,
            figure_clips - len(figure_rows),
        )
    if not clip_ids:
        raise ValueError("no clip could be read; see the warnings above")
    summary = summarize(per_clip)
    info = {
        "source": source,
        "data": data_description,
        "clips": len(clip_ids),
        "accuracy": sum(correct) / len(correct),
        "logit_scale": logit_scale,
        "steps": steps,
        "mask_th": settings["mask_th"],
        "ground_truth": truth_kind,
        "methods": methods,
        "notes": notes,
    }
    write_report(out_folder, summary, per_clip, clip_ids, info)
    plot_maps(
        os.path.join(out_folder, FIGURE_FILE),
        figure_rows,
        SpectrogramGrid.of_stft(stft, n_bins=stft.n_fft // 2 + 1),
        methods,
    )
    return summary


def _read(batch, load_clip):
    """The batch's readable clips and their waveforms; the others are
    skipped with a warning naming the file."""
    kept, wavs = [], []
    for clip in batch:
        try:
            wavs.append(load_clip(clip.path))
        except (OSError, RuntimeError, ValueError) as error:
            logger.warning("skipping %s: %s", clip.path, error)
            continue
        kept.append(clip)
    return kept, (torch.stack(wavs) if wavs else None)


def _ground_truth(batch, kind, shape, grid):
    """The batch's ground-truth cells (``[B, T, F]`` bool), or None."""
    if kind is None:
        return None
    _, frames, bins = shape
    if kind == "masks":
        return {
            "event": torch.stack(
                [load_cells(c.target_mask, frames, bins) for c in batch]
            ),
            "distractor": torch.stack(
                [load_cells(c.other_mask, frames, bins) for c in batch]
            ),
        }
    nan_box = (float("nan"),) * 4
    cells = {}
    for key, name in (
        ("event", "event_region"),
        ("distractor", "distractor_region"),
    ):
        regions = torch.tensor([getattr(c, name) or nan_box for c in batch])
        cells[key] = region_to_tf_mask(regions, frames, bins, **grid)
    return cells


def _figure_rows(batch, found, truth, maps, interpreter, count):
    """The first ``count`` clips of the batch, for the figure (CPU)."""
    names = interpreter.hparams.label_encoder.ind2lab
    return [
        {
            "clip_id": clip.clip_id,
            "label": names[int(found.predicted_class[index])],
            "logpower": found.logpower[index].float().cpu(),
            "ground_truth": None
            if truth is None
            else truth["event"][index].cpu(),
            "maps": {name: value[index].cpu() for name, value in maps.items()},
        }
        for index, clip in enumerate(batch[: max(count, 0)])
    ]
