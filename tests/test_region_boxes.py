"""A clip whose event box is missing or inverted is named and skipped when
the data is prepared, not found by the test stage after training."""

import json
import logging
import os

import pandas as pd
import pytest

from speechbrain_piq.dataio.datasets import dataio_prep
from speechbrain_piq.dataio.esc50_prepare import (
    BAD_BOX,
    RECORD_FILE,
    prepare_esc50,
)
from speechbrain_piq.demo import make_demo_dataset


@pytest.fixture
def demo_with_bad_boxes(tmp_path):
    """A demo dataset where rows 1-3 after the header have bad boxes."""
    dest = tmp_path / "demo"
    make_demo_dataset(
        dest, n_classes=2, clips_per_class_per_fold=2, distractor_fraction=0.5
    )
    metadata_file = dest / "meta" / "esc50.csv"
    meta = pd.read_csv(metadata_file)
    meta.loc[0, "event_onset"] = None
    meta.loc[1, ["event_low_hz", "event_high_hz"]] = [900.0, 300.0]
    with_distractor = meta.index[meta["distractor_onset"].notna()]
    partial = with_distractor[with_distractor > 1][0]
    meta.loc[partial, "distractor_high_hz"] = None
    meta.to_csv(metadata_file, index=False)
    bad = {
        meta["filename"][0]: "row 1 after the header",
        meta["filename"][1]: "row 2 after the header",
        meta["filename"][partial]: f"row {partial + 1} after the header",
    }
    return dest, metadata_file, bad


@pytest.mark.parametrize("subset", ["esc50", "esc10"])
def test_bad_boxes_are_skipped_by_name(demo_with_bad_boxes, caplog, subset):
    dest, metadata_file, bad = demo_with_bad_boxes
    save_folder = dest / "save"
    with caplog.at_level(logging.WARNING):
        manifests = prepare_esc50(str(dest), str(save_folder), subset=subset)

    for filename, row in bad.items():
        (line,) = [
            m for m in caplog.messages if m.startswith(f"Skipping {filename}")
        ]
        assert row in line and str(metadata_file) in line
    assert "event box is missing event_onset" in caplog.text
    assert "event box is inverted (event_low_hz 900 >= event_high_hz" in (
        caplog.text
    )
    assert "distractor box is missing distractor_high_hz" in caplog.text
    kept = pd.concat(pd.read_csv(path) for path in manifests.values())
    ids = {os.path.splitext(name)[0] for name in bad}
    assert not ids & set(kept["ID"])
    # The clips without a distractor (all four cells empty) are kept.
    assert kept["distractor_onset"].isna().any()
    record = json.loads((save_folder / RECORD_FILE).read_text())
    skipped = [
        name
        for split in record["report"].values()
        for name in split["skipped"].get(BAD_BOX, [])
    ]
    assert sorted(skipped) == sorted(bad)

    # The kept clips give datasets with their boxes.
    datasets, _ = dataio_prep(
        manifests, str(dest), str(save_folder), clip_seconds=1.0
    )
    assert datasets["test"][0]["event_region"].isfinite().all()


def test_manifest_with_a_bad_box_stops_before_training(
    demo_with_bad_boxes, tmp_path
):
    dest, _, _ = demo_with_bad_boxes
    save_folder = dest / "save"
    manifests = prepare_esc50(str(dest), str(save_folder))
    test = pd.read_csv(manifests["test"])
    test.loc[1, "event_offset"] = test.loc[1, "event_onset"] - 0.5
    test.to_csv(manifests["test"], index=False)
    with pytest.raises(ValueError) as stopped:
        dataio_prep(manifests, str(dest), str(save_folder), clip_seconds=1.0)
    message = str(stopped.value)
    assert manifests["test"] in message
    assert f"row 2 after the header (clip {test['ID'][1]})" in message
    assert "event box is inverted" in message
