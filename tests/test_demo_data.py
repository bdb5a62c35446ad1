"""The demo dataset: ESC-50's layout, deterministic, with truthful regions."""

import os
import re

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import torchaudio
from esc50_factory import ESC50_COLUMNS, make_esc50_folder

from speechbrain_piq.demo import (
    DEMO_CATEGORIES,
    DEMO_COLUMNS,
    make_demo_clip,
    make_demo_dataset,
    region_of,
)
from speechbrain_piq.demo.dataset import DISTRACTOR_REGION_COLUMNS
from speechbrain_piq.demo.events import EVENT_SYNTHESISERS
from speechbrain_piq.demo.make_data import main
from speechbrain_piq.features import LogPowerSpectrogram
from speechbrain_piq.metrics.localisation import region_to_tf_mask

SMALL = dict(n_classes=3, clips_per_class_per_fold=2, folds=(1, 2))


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    dest = tmp_path_factory.mktemp("demo")
    meta = make_demo_dataset(dest, distractor_fraction=0.5, **SMALL)
    return dest, meta


def test_metadata_has_esc50_columns_then_regions(small_demo):
    dest, meta = small_demo
    written = pd.read_csv(os.path.join(dest, "meta", "esc50.csv"))
    assert list(written.columns) == DEMO_COLUMNS
    assert DEMO_COLUMNS[:7] == ESC50_COLUMNS
    assert DEMO_COLUMNS[7:] == [
        "event_onset",
        "event_offset",
        "event_low_hz",
        "event_high_hz",
        "distractor_onset",
        "distractor_offset",
        "distractor_low_hz",
        "distractor_high_hz",
        "distractor_category",
    ]
    # The CSV holds exactly the returned values (NaN and "" read back as NaN).
    pd.testing.assert_frame_equal(
        written.drop(columns=["distractor_category", "src_file"]),
        meta.drop(columns=["distractor_category", "src_file"]),
        check_dtype=False,
    )


def test_rows_are_balanced_and_labelled(small_demo):
    _, meta = small_demo
    assert len(meta) == 3 * 2 * 2
    assert meta.groupby(["fold", "target"]).size().eq(2).all()
    assert meta.esc10.all()
    assert (meta["take"] == "A").all()
    assert meta.src_file.is_unique
    for row in meta.itertuples():
        assert row.category == DEMO_CATEGORIES[row.target]
        assert row.filename == (
            f"{row.fold}-{row.src_file}-{row.take}-{row.target}.wav"
        )
        assert re.fullmatch(r"\d-\d+-A-\d\.wav", row.filename)


def test_audio_is_5s_mono_16bit_at_44k(small_demo):
    dest, meta = small_demo
    for filename in meta.filename:
        info = sf.info(os.path.join(dest, "audio", filename))
        assert info.samplerate == 44100
        assert info.channels == 1
        assert info.frames == 5 * 44100
        assert info.subtype == "PCM_16"
    assert sorted(os.listdir(os.path.join(dest, "audio"))) == sorted(
        meta.filename
    )


def test_regions_are_inside_the_clip_and_below_8khz(small_demo):
    _, meta = small_demo
    assert (meta.event_onset > 0).all()
    assert (meta.event_offset - meta.event_onset).between(1.0, 2.1).all()
    with_distractor = meta.dropna(subset=["distractor_onset"])
    assert (
        (with_distractor.distractor_offset - with_distractor.distractor_onset)
        .between(0.4, 1.1)
        .all()
    )
    assert (with_distractor.distractor_offset < 4.8).all()
    # The PIQ decoder's 417 frames reach 4.836 s: events end before that.
    assert (meta.event_offset < 4.8).all()
    assert (meta.event_low_hz >= 0).all()
    assert (meta.event_low_hz < meta.event_high_hz).all()
    assert (meta.event_high_hz < 8000).all()


def test_distractors_are_other_classes_in_disjoint_boxes(small_demo):
    _, meta = small_demo
    has = meta.distractor_category != ""
    assert has.sum() == round(0.5 * len(meta))
    assert meta.loc[~has, DISTRACTOR_REGION_COLUMNS].isna().all().all()
    with_distractor = meta[has]
    assert with_distractor[DISTRACTOR_REGION_COLUMNS].notna().all().all()
    assert (
        with_distractor.distractor_category != with_distractor.category
    ).all()
    assert with_distractor.distractor_category.isin(DEMO_CATEGORIES[:3]).all()
    for row in with_distractor.itertuples():
        apart_in_time = (
            row.distractor_offset < row.event_onset
            or row.distractor_onset > row.event_offset
        )
        apart_in_frequency = (
            row.distractor_high_hz < row.event_low_hz
            or row.distractor_low_hz > row.event_high_hz
        )
        assert apart_in_time or apart_in_frequency
        assert row.distractor_high_hz < 8000
        assert row.distractor_offset < 4.8


def test_same_seed_gives_same_bytes(tmp_path, small_demo):
    dest, meta = small_demo
    again = make_demo_dataset(
        tmp_path / "again", distractor_fraction=0.5, **SMALL
    )
    pd.testing.assert_frame_equal(again, meta)
    for name in ["meta/esc50.csv"] + [f"audio/{f}" for f in meta.filename]:
        with open(dest / name, "rb") as first:
            with open(tmp_path / "again" / name, "rb") as second:
                assert first.read() == second.read(), name


def test_other_seed_gives_other_data(tmp_path, small_demo):
    _, meta = small_demo
    other = make_demo_dataset(
        tmp_path, distractor_fraction=0.5, seed=1, **SMALL
    )
    assert list(other.filename) == list(meta.filename)
    assert not np.allclose(other.event_onset, meta.event_onset)


def test_distractor_fraction_bounds(tmp_path):
    none = make_demo_dataset(tmp_path / "none", distractor_fraction=0, **SMALL)
    every = make_demo_dataset(tmp_path / "all", distractor_fraction=1, **SMALL)
    assert (none.distractor_category == "").all()
    assert (every.distractor_category != "").all()


def _power_at_16k(wav, sample_rate):
    """``[1, T, F]`` STFT power of ``wav`` as the models compute it."""
    wav = torch.as_tensor(wav, dtype=torch.float32)[None]
    wav = torchaudio.functional.resample(wav, sample_rate, 16000)
    _, stft = LogPowerSpectrogram()(wav)
    return stft.pow(2).sum(-1)


@pytest.mark.parametrize("category", DEMO_CATEGORIES)
def test_box_holds_the_event_energy_as_the_models_see_it(category):
    """The event alone, at 16 kHz through the models' STFT, stays in its box."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        event = EVENT_SYNTHESISERS[category](rng, 30000, 44100)
        onset = 44100 + 1000 * seed
        wav = np.zeros(5 * 44100)
        wav[onset : onset + len(event.wav)] = event.wav
        power = _power_at_16k(wav, 44100)
        box = region_to_tf_mask(
            torch.tensor([region_of(event, onset, 44100)]), *power.shape[1:]
        )
        assert float((power * box).sum() / power.sum()) > 0.99


def test_clip_puts_the_events_in_their_boxes():
    """In the mixture, each box is louder than the noise around it."""
    for seed, category in enumerate(DEMO_CATEGORIES):
        distractor = DEMO_CATEGORIES[seed - 1]
        clip = make_demo_clip(np.random.default_rng(seed), category, distractor)
        power = _power_at_16k(clip.wav, 44100)
        boxes = region_to_tf_mask(
            torch.tensor([clip.event_region, clip.distractor_region]),
            *power.shape[1:],
        )
        outside = power[0][~boxes.any(0)].mean()
        assert power[0][boxes[0]].mean() > 1.2 * outside, category
        assert power[0][boxes[1]].mean() > 1.05 * outside, distractor
        assert not (boxes[0] & boxes[1]).any()


def test_refuses_to_overwrite_real_esc50(tmp_path):
    make_esc50_folder(tmp_path, n_classes=2, folds=(1,))
    with pytest.raises(FileExistsError, match="event_onset"):
        make_demo_dataset(tmp_path, **SMALL)


def test_rewriting_a_demo_folder_is_allowed(tmp_path):
    first = make_demo_dataset(tmp_path, **SMALL)
    second = make_demo_dataset(tmp_path, **SMALL)
    pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_classes=7), "n_classes=7"),
        (dict(n_classes=1), "n_classes=1"),
        (dict(clips_per_class_per_fold=0), "clips_per_class_per_fold=0"),
        (dict(folds=()), "folds="),
        (dict(folds=(1, 1)), "folds="),
        (dict(folds=(0, 1)), r"fold\(s\) \[0\] are not ESC-50 folds"),
        (dict(folds=(5, 6)), r"fold\(s\) \[6\] are not ESC-50 folds"),
        (dict(distractor_fraction=1.5), "distractor_fraction=1.5"),
        (dict(sample_rate=8000), "sample_rate=8000"),
    ],
)
def test_bad_arguments_name_the_value(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_demo_dataset(tmp_path, **kwargs)
    assert not os.path.exists(tmp_path / "meta")


def test_command_line_writes_the_folder(tmp_path):
    meta = main(
        [
            str(tmp_path),
            "--n-classes",
            "2",
            "--clips-per-class-per-fold",
            "1",
            "--folds",
            "1",
            "2",
            "--seed",
            "3",
        ]
    )
    assert len(meta) == 4
    assert (tmp_path / "meta" / "esc50.csv").exists()
    assert set(os.listdir(tmp_path / "audio")) == set(meta.filename)
