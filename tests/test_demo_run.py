"""``demo.sh``, shrunk (few clips, one epoch per stage), end to end."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_TIMEOUT_S = 300
SHRUNK = {
    "DEMO_CLIPS_PER_CLASS_PER_FOLD": "2",
    "DEMO_CLASSIFIER_EPOCHS": "1",
    "DEMO_PIQ_EPOCHS": "1",
}


def test_shrunk_demo_writes_interpretations_and_metrics(tmp_path):
    out = tmp_path / "demo_output"
    env = {**os.environ, **SHRUNK, "PYTHON": sys.executable}
    try:
        result = subprocess.run(
            ["bash", os.path.join(REPO, "demo.sh"), str(out)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=DEMO_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"demo.sh did not finish in {error.timeout} s")
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]

    assert (out / "data" / "meta" / "esc50.csv").is_file()
    pretrained = out / "classifier" / "pretrained"
    assert (pretrained / "embedding_model.ckpt").is_file()
    assert (pretrained / "classifier.ckpt").is_file()

    metrics = json.loads((out / "piq" / "test_metrics.json").read_text())
    for name in ("fid_in", "faithfulness", "sps", "comp", "accuracy"):
        assert metrics[name] is not None, name
    for name in ("loc_precision", "loc_recall", "loc_iou", "event_box_share"):
        assert 0 <= metrics[name] <= 1, name

    clips = list((out / "piq" / "interpretations" / "test").iterdir())
    assert clips
    for clip in clips:
        for name in (
            "original.wav",
            "interpretation.wav",
            "interpretation.png",
        ):
            assert (clip / name).stat().st_size > 0, clip / name
    # The summary printed at the end is the metrics file.
    assert '"fid_in"' in result.stdout
