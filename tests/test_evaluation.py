"""speechbrain-piq evaluate: methods, metrics on known masks, mixtures, CLI."""

import csv
import json
import math
from types import SimpleNamespace

import pytest
import soundfile
import torch
from test_cli import assert_one_clear_line
from test_export import CLASSES, make_piq_run

from speechbrain_piq.cli import main
from speechbrain_piq.evaluation.data import esc50_fold_clips, manifest_clips
from speechbrain_piq.evaluation.methods import (
    METHODS,
    MethodContext,
    parse_methods,
)
from speechbrain_piq.evaluation.mixtures import (
    build_mixtures,
    ideal_binary_masks,
)
from speechbrain_piq.evaluation.run import evaluate, load_interpreter
from speechbrain_piq.evaluation.scores import map_scores
from speechbrain_piq.features import LogPowerSpectrogram
from speechbrain_piq.interpretation import interpret
from speechbrain_piq.metrics.localisation import region_to_tf_mask

RATE = 16000
SECONDS = 1.0
# Each class is a tone at its own frequency, so mixtures separate cleanly.
CLASS_HZ = {"dog": 500.0, "rain": 2000.0, "siren": 5000.0}
EVENT = (0.2, 0.6, 300.0, 800.0)
BOX_COLUMNS = (
    "event_onset,event_offset,event_low_hz,event_high_hz,"
    "distractor_onset,distractor_offset,distractor_low_hz,distractor_high_hz"
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    run = make_piq_run(root)
    with open(run.run_dir / "hyperparams.yaml", "a", encoding="utf-8") as out:
        out.write(f"clip_seconds: {SECONDS}\nmask_th: 0.35\n")
    return run.run_dir


def tone(hz, seed=0):
    generator = torch.Generator().manual_seed(seed)
    time = torch.arange(int(SECONDS * RATE)) / RATE
    noise = 0.05 * torch.randn(time.shape[0], generator=generator)
    return torch.sin(2 * torch.pi * hz * time) + noise


def make_fold(root, boxes=True, distractor_rows=(0,)):
    """An ESC-50-layout folder whose fold 5 has two clips of each class."""
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    header = "filename,fold,target,category,esc10"
    rows = [header + ("," + BOX_COLUMNS if boxes else "")]
    for index, (target, name) in enumerate(
        (t, n) for t, n in enumerate(CLASSES) for _ in range(2)
    ):
        filename = f"5-{index}-A-{target}.wav"
        soundfile.write(
            root / "audio" / filename,
            tone(CLASS_HZ[name], index).numpy(),
            RATE,
            subtype="FLOAT",
        )
        row = f"{filename},5,{target},{name},True"
        if boxes:
            distractor = (
                "0.7,0.9,2000.0,3000.0" if index in distractor_rows else ",,,"
            )
            row += "," + ",".join(map(str, EVENT)) + "," + distractor
        rows.append(row)
    (root / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")
    return root


def interpretation_of(run_dir, batch=2):
    interpreter, settings = load_interpreter(str(run_dir))
    wavs = torch.stack([tone(500.0, seed) for seed in range(batch)])
    modules = interpreter.mods
    with torch.no_grad():
        found = interpret(
            modules.compute_features,
            modules.audio_classifier,
            modules.psi,
            wavs,
        )
    context = MethodContext(
        audio_classifier=modules.audio_classifier,
        mask_th=settings["mask_th"],
        generator=torch.Generator().manual_seed(0),
        ig_steps=4,
        smoothgrad_samples=2,
        occlusion_window=(40, 128),
        occlusion_stride=(40, 128),
    )
    return found, context


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_maps_the_spectrogram_bins_into_0_1(run_dir, method):
    found, context = interpretation_of(run_dir)
    maps = METHODS[method](context, found)
    assert maps.shape == found.logpower.shape
    assert maps.dtype == torch.float32
    assert torch.isfinite(maps).all()
    assert maps.min() >= 0 and maps.max() <= 1
    if method in ("saliency", "ig", "smoothgrad", "gradcam", "occlusion"):
        # Normalised by each clip's peak: every clip reaches 1 (unless the
        # attribution is zero everywhere).
        peaks = maps.amax(dim=(1, 2))
        assert torch.all((peaks == 1) | (peaks == 0))


def test_random_and_smoothgrad_are_reproducible_with_the_seed(run_dir):
    found, context = interpretation_of(run_dir)
    again = context._replace(generator=torch.Generator().manual_seed(0))
    for method in ("random", "smoothgrad"):
        first = METHODS[method](context, found)
        context = context._replace(generator=torch.Generator().manual_seed(0))
        assert torch.equal(first, METHODS[method](again, found))
        again = again._replace(generator=torch.Generator().manual_seed(0))


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="unknown method 'gradcm'"):
        parse_methods("piq,gradcm")
    assert parse_methods("all") == list(METHODS)


class LoudnessClassifier(torch.nn.Module):
    """Class 0 scores the energy inside the event box, class 1 outside."""

    def __init__(self, box):
        super().__init__()
        self.box = box

    def forward(self, logpower):
        inside = (logpower * self.box).sum((1, 2)) / self.box.sum()
        outside = (logpower * ~self.box).sum((1, 2)) / (~self.box).sum()
        return SimpleNamespace(logits=torch.stack([inside, outside], 1))


def known_answer_setup():
    frames, bins = 40, 64
    event = region_to_tf_mask(torch.tensor([EVENT]), frames, bins)[0]
    distractor = region_to_tf_mask(
        torch.tensor([[0.05, 0.15, 100.0, 250.0]]), frames, bins
    )[0]
    logpower = torch.where(event, 3.0, 0.5).unsqueeze(0)
    classifier = LoudnessClassifier(event)
    found = SimpleNamespace(
        logpower=logpower,
        logits=classifier(logpower).logits,
        predicted_class=torch.tensor([0]),
    )
    truth = {"event": event.unsqueeze(0), "distractor": distractor.unsqueeze(0)}
    return classifier, found, truth, event


def test_metrics_of_an_all_ones_mask():
    classifier, found, truth, event = known_answer_setup()
    scores = map_scores(
        classifier, found, torch.ones_like(found.logpower), truth, 30.0, 10
    )
    assert float(scores["mask_mean"]) == 1
    assert float(scores["fid_in"]) == 1
    assert float(scores["sps"]) < 1e-3
    # Masking out everything leaves zeros: p_out is uniform over 2 classes.
    p = torch.softmax(30 * found.logits, 1)[0, 0]
    assert float(scores["ff_calibrated"]) == pytest.approx(float(p) - 0.5)
    share = float(event.float().mean())
    assert float(scores["loc_precision"]) == pytest.approx(share)
    assert float(scores["loc_recall"]) == pytest.approx(1.0)
    assert float(scores["distractor_mass"]) == pytest.approx(
        float(truth["distractor"].float().mean())
    )


def test_metrics_of_the_ground_truth_box():
    classifier, found, truth, event = known_answer_setup()
    box = event.float().unsqueeze(0)
    scores = map_scores(classifier, found, box, truth, 30.0, 10)
    assert float(scores["loc_precision"]) == 1
    assert float(scores["loc_recall"]) == 1
    assert float(scores["loc_iou"]) == 1
    assert float(scores["distractor_mass"]) == 0
    assert float(scores["fid_in"]) == 1
    # The box ranks the event's bins first: insertion finds the class at
    # once, deletion loses it at once.
    ones = map_scores(classifier, found, torch.ones_like(box), truth, 30.0, 10)
    assert scores["insertion_auc"] > ones["insertion_auc"]
    assert scores["deletion_auc"] < ones["deletion_auc"]


def test_metrics_of_an_empty_mask_are_zero_not_nan():
    classifier, found, truth, _ = known_answer_setup()
    empty = torch.zeros_like(found.logpower)
    scores = map_scores(classifier, found, empty, truth, 30.0, 10)
    assert float(scores["mask_mean"]) == 0
    for name in ("loc_precision", "loc_recall", "loc_iou", "distractor_mass"):
        assert float(scores[name]) == 0, name
    assert math.isnan(float(scores["sps"]))  # undefined, as quantus


def test_ideal_binary_masks_split_two_tones_by_frequency():
    features = LogPowerSpectrogram()
    low, high = tone(500.0), 0.5 * tone(5000.0, seed=1)
    target, other = ideal_binary_masks(low, high, features)
    bins_hz = torch.arange(513) * RATE / 1024
    assert not (target & other).any()
    assert target[:, (bins_hz - 500).abs() < 50].float().mean() > 0.9
    assert other[:, (bins_hz - 5000).abs() < 50].float().mean() > 0.9
    assert not target[:, (bins_hz - 5000).abs() < 50].any()


def test_mixture_builder_writes_mixtures_masks_and_manifest(tmp_path):
    data = make_fold(tmp_path / "data", boxes=False)
    manifest = build_mixtures(
        str(data),
        str(tmp_path / "mixtures"),
        fold=5,
        subset="esc50",
        levels=(0.8, 0.5),
        clip_seconds=SECONDS,
    )
    with open(manifest, encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 6 * 2
    for row in rows:
        assert row["class_string"] != row["other_class"]
        wav, rate = soundfile.read(tmp_path / "mixtures" / row["wav"])
        assert rate == RATE and len(wav) == RATE
        assert abs(abs(wav).max() - 1) < 1e-5
        target = torch.load(tmp_path / "mixtures" / row["target_mask"])
        other = torch.load(tmp_path / "mixtures" / row["other_mask"])
        assert target.dtype == torch.bool and not (target & other).any()
        assert target.any() and other.any()
    again = build_mixtures(
        str(data),
        str(tmp_path / "again"),
        subset="esc50",
        clip_seconds=SECONDS,
    )
    with open(again, encoding="utf-8") as stream:
        assert [row["ID"] for row in csv.DictReader(stream)] == [
            row["ID"] for row in rows
        ]
    clips = manifest_clips(manifest)
    assert {clip.ground_truth for clip in clips} == {"masks"}


def test_evaluate_on_boxes_writes_one_table_for_every_method(run_dir, tmp_path):
    data = make_fold(tmp_path / "data")
    out = tmp_path / "out"
    summary = evaluate(
        str(run_dir),
        esc50_fold_clips(str(data), 5),
        str(out),
        methods="piq,ones,energy,random",
        batch_size=4,
        steps=4,
    )
    assert list(summary) == ["piq", "ones", "energy", "random"]
    assert summary["ones"]["mask_mean"] == 1
    assert summary["ones"]["fid_in"] == 1
    assert summary["ones"]["loc_recall"] == pytest.approx(1)
    # Only clip 0 has a distractor: the mean is over that clip alone.
    assert summary["ones"]["distractor_mass"] is not None
    for name in ("evaluation.md", "evaluation.csv", "evaluation.json"):
        assert (out / name).is_file()
    assert (out / "evaluation.png").stat().st_size > 1000
    report = json.loads((out / "evaluation.json").read_text())
    assert report["clips"] == 6 and report["ground_truth"] == "boxes"
    table = (out / "evaluation.md").read_text()
    assert "loc prec." in table and "nan" not in table.lower()


def test_cli_evaluate_on_mixtures_and_on_data_without_ground_truth(
    run_dir, tmp_path, capsys
):
    data = make_fold(tmp_path / "data", boxes=False)
    manifest = build_mixtures(
        str(data),
        str(tmp_path / "mixtures"),
        subset="esc50",
        levels=(0.8,),
        clip_seconds=SECONDS,
    )
    status = main(
        [
            "evaluate",
            str(run_dir),
            manifest,
            "--methods",
            "piq,energy",
            "--steps",
            "4",
            "--out",
            str(tmp_path / "mixed"),
        ]
    )
    assert status == 0
    assert "loc prec." in capsys.readouterr().out
    status = main(
        [
            "evaluate",
            str(run_dir),
            str(data),
            "--methods",
            "ones",
            "--steps",
            "2",
            "--out",
            str(tmp_path / "plain"),
        ]
    )
    assert status == 0
    table = (tmp_path / "plain" / "evaluation.md").read_text()
    assert "loc prec." not in table and "nan" not in table.lower()
    assert "localisation omitted: the data has no ground truth" in table


def test_cli_evaluate_errors_are_one_line(run_dir, tmp_path, capsys):
    data = make_fold(tmp_path / "data", boxes=False)
    assert main(["evaluate", str(tmp_path / "no_run"), str(data)]) == 1
    assert_one_clear_line(capsys.readouterr().err, "no_run")
    assert main(["evaluate", str(run_dir), str(tmp_path / "none")]) == 1
    assert_one_clear_line(capsys.readouterr().err, "no such data")
    assert main(["evaluate", str(run_dir), str(data), "--methods", "x"]) == 1
    assert_one_clear_line(capsys.readouterr().err, "unknown method 'x'")
    other = tmp_path / "other.csv"
    other.write_text(f"ID,wav,class_string\na,{data}/audio/5-0-A-0.wav,cat\n")
    assert main(["evaluate", str(run_dir), str(other)]) == 1
    assert_one_clear_line(capsys.readouterr().err, "'cat'")
