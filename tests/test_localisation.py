"""Localisation scores of masks against ground-truth boxes, on hand-made masks."""

import math

import pytest
import torch

from speechbrain_piq.metrics.localisation import (
    SCORE_NAMES,
    localisation_scores,
    region_to_tf_mask,
)
from speechbrain_piq.metrics.stage_stats import StageMetrics

# The PIQ decoder's mask is shorter than the 431-frame spectrogram.
T, F = 417, 513
EVENT = [1.0, 2.0, 1000.0, 2000.0]
DISTRACTOR = [3.0, 3.5, 4000.0, 5000.0]
NO_DISTRACTOR = [math.nan] * 4


def boxes(*regions):
    return torch.tensor(regions)


def scores_of(mask, event, distractor=None, **kwargs):
    scores = localisation_scores(mask, event, distractor, **kwargs)
    return {name: value.tolist() for name, value in scores.items()}


def test_box_follows_speechbrain_stft_geometry():
    box = region_to_tf_mask(boxes(EVENT), 431, 513)[0]
    frames = box.any(1).nonzero()[:, 0]
    bins = box.any(0).nonzero()[:, 0]
    # hop = round(16 * 11.6099) = 186 samples; frame t sits at t * 186 / 16k.
    assert frames.tolist() == list(range(87, 173))
    assert bins.tolist() == list(range(64, 129))
    # The box is a rectangle: every selected frame has every selected bin.
    assert int(box.sum()) == len(frames) * len(bins)


def test_box_geometry_follows_other_stft_settings():
    box = region_to_tf_mask(
        boxes([0.0, 0.1, 0.0, 1000.0]),
        100,
        257,
        sample_rate=8000,
        hop_length_ms=10.0,
        n_fft=512,
    )[0]
    # 80-sample hop at 8 kHz: frames at 0, 10, ..., 100 ms; 15.625 Hz bins.
    assert box.any(1).nonzero()[:, 0].tolist() == list(range(11))
    assert box.any(0).nonzero()[:, 0].tolist() == list(range(65))


def test_nan_region_marks_nothing():
    box = region_to_tf_mask(boxes(EVENT, NO_DISTRACTOR), T, F)
    assert box[0].any()
    assert not box[1].any()


def test_region_shape_is_checked():
    with pytest.raises(ValueError, match=r"\[B, 4\]"):
        region_to_tf_mask(torch.tensor(EVENT), T, F)


def test_mask_exactly_on_the_event_scores_one():
    event = boxes(EVENT)
    mask = region_to_tf_mask(event, T, F).float()
    scores = scores_of(mask, event, boxes(DISTRACTOR))
    event_share = scores.pop("event_box_share")
    distractor_share = scores.pop("distractor_box_share")
    assert scores == {
        "loc_precision": [1.0],
        "loc_recall": [1.0],
        "loc_iou": [1.0],
        "distractor_mass": [0.0],
    }
    assert event_share == pytest.approx([float(mask.sum()) / (T * F)])
    distractor_area = float(region_to_tf_mask(boxes(DISTRACTOR), T, F).sum())
    assert distractor_share == pytest.approx([distractor_area / (T * F)])


def test_mask_on_the_distractor_scores_zero():
    distractor = boxes(DISTRACTOR)
    mask = region_to_tf_mask(distractor, T, F).float()
    scores = scores_of(mask, boxes(EVENT), distractor)
    assert scores["loc_precision"] == pytest.approx([0.0], abs=1e-6)
    assert scores["loc_recall"] == pytest.approx([0.0], abs=1e-6)
    assert scores["loc_iou"] == [0.0]
    assert scores["distractor_mass"] == pytest.approx([1.0])


def test_all_ones_mask_precision_is_the_box_area_fraction():
    event = boxes(EVENT)
    area = float(region_to_tf_mask(event, T, F).sum()) / (T * F)
    scores = scores_of(torch.ones(1, T, F), event, boxes(DISTRACTOR))
    assert scores["loc_precision"] == pytest.approx([area])
    assert scores["loc_recall"] == pytest.approx([1.0])
    assert scores["loc_iou"] == pytest.approx([area])
    distractor_area = float(region_to_tf_mask(boxes(DISTRACTOR), T, F).sum())
    assert scores["distractor_mass"] == pytest.approx(
        [distractor_area / (T * F)]
    )
    # The box shares are exactly these chance levels.
    assert scores["event_box_share"] == pytest.approx(scores["loc_precision"])
    assert scores["distractor_box_share"] == pytest.approx(
        scores["distractor_mass"]
    )


def test_half_strength_mask_on_the_box():
    event = boxes(EVENT)
    mask = 0.5 * region_to_tf_mask(event, T, F).float()
    scores = scores_of(mask, event)
    assert scores["loc_precision"] == pytest.approx([1.0])
    assert scores["loc_recall"] == pytest.approx([0.5])
    # 0.5 reaches the threshold; a stricter one selects nothing.
    assert scores["loc_iou"] == [1.0]
    assert scores_of(mask, event, threshold=0.6)["loc_iou"] == [0.0]


def test_mask_on_half_the_box():
    event = boxes(EVENT)
    box = region_to_tf_mask(event, T, F)
    mask = box.float()
    first_frame = int(box[0].any(1).nonzero()[0])
    n_frames = int(box[0].any(1).sum())
    mask[:, first_frame + n_frames // 2 :] = 0  # keep the first half
    kept = float(mask.sum()) / float(box.sum())
    scores = scores_of(mask, event)
    assert kept == pytest.approx(n_frames // 2 / n_frames)
    assert scores["loc_precision"] == pytest.approx([1.0])
    assert scores["loc_recall"] == pytest.approx([kept])
    assert scores["loc_iou"] == pytest.approx([kept])


def test_empty_mask_scores_zero_without_nan():
    scores = scores_of(
        torch.zeros(2, T, F),
        boxes(EVENT, EVENT),
        boxes(DISTRACTOR, NO_DISTRACTOR),
    )
    assert scores["loc_precision"] == [0.0, 0.0]
    assert scores["loc_recall"] == [0.0, 0.0]
    assert scores["loc_iou"] == [0.0, 0.0]
    assert scores["distractor_mass"][0] == 0.0
    assert math.isnan(scores["distractor_mass"][1])


def test_no_distractor_gives_nan_distractor_scores_only():
    scores = localisation_scores(
        torch.rand(3, T, F), boxes(EVENT, EVENT, EVENT)
    )
    assert scores["distractor_mass"].isnan().all()
    assert scores["distractor_box_share"].isnan().all()
    for name in ("loc_precision", "loc_recall", "loc_iou", "event_box_share"):
        assert not scores[name].isnan().any()
    assert tuple(scores) == SCORE_NAMES


def test_batch_scores_equal_clip_by_clip_scores():
    torch.manual_seed(0)
    mask = torch.rand(4, T, F)
    event = boxes(
        EVENT, [0.5, 0.9, 300.0, 700.0], EVENT, [4.0, 4.7, 0.0, 8000.0]
    )
    distractor = boxes(
        DISTRACTOR, NO_DISTRACTOR, [0.1, 0.5, 0.0, 500.0], NO_DISTRACTOR
    )
    batch = localisation_scores(mask, event, distractor)
    for clip in range(4):
        alone = localisation_scores(
            mask[clip : clip + 1],
            event[clip : clip + 1],
            distractor[clip : clip + 1],
        )
        for name in SCORE_NAMES:
            torch.testing.assert_close(
                batch[name][clip : clip + 1], alone[name], equal_nan=True
            )


def test_float16_and_bool_masks_do_not_overflow():
    event = boxes(EVENT)
    box = region_to_tf_mask(event, T, F)
    for mask in (torch.ones(1, T, F, dtype=torch.float16), box):
        scores = localisation_scores(mask, event)
        assert scores["loc_recall"].item() == pytest.approx(1.0)
        assert scores["loc_precision"].dtype == torch.float32


def test_event_region_may_be_float64_and_distractor_on_another_dtype():
    mask = region_to_tf_mask(boxes(EVENT), T, F).float()
    scores = localisation_scores(
        mask, boxes(EVENT).double(), boxes(DISTRACTOR).half()
    )
    assert scores["loc_iou"].item() == 1.0


@pytest.mark.parametrize(
    "mask, event, distractor, match",
    [
        (torch.rand(T, F), boxes(EVENT), None, r"\[B, T, F\]"),
        (torch.rand(2, T, F), boxes(EVENT), None, "event_region must be"),
        (torch.rand(1, T, F), boxes(EVENT), boxes(EVENT, EVENT), "distractor"),
        (
            torch.rand(1, T, F),
            boxes(NO_DISTRACTOR),
            None,
            "event_region has NaN",
        ),
        (torch.full((1, T, F), math.nan), boxes(EVENT), None, r"\[0, 1\]"),
        (torch.randn(1, T, F), boxes(EVENT), None, "logits"),
        (
            torch.rand(1, T, F),
            boxes([4.9, 5.0, 0.0, 8000.0]),
            None,
            "covers no cell",
        ),
    ],
)
def test_bad_input_names_the_problem(mask, event, distractor, match):
    with pytest.raises(ValueError, match=match):
        localisation_scores(mask, event, distractor)


def test_stage_mean_leaves_out_clips_without_distractor():
    first = localisation_scores(
        torch.ones(2, T, F),
        boxes(EVENT, EVENT),
        boxes(DISTRACTOR, NO_DISTRACTOR),
    )
    second = localisation_scores(torch.zeros(1, T, F), boxes(EVENT))
    stats = StageMetrics()
    stats.append(first)
    stats.append(second)
    means = stats.summarize()
    assert means["loc_recall"] == pytest.approx(2 / 3)
    assert means["distractor_mass"] == pytest.approx(
        first["distractor_mass"][0].item()
    )
