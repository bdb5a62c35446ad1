"""``train_piq.py`` survives bad batches and interruptions (issue 5).

Both tests run the real recipe on a tiny generated ESC-50 folder and
change only ``PIQBrain.fit_batch``: once to put NaN into one training
batch (the data pipeline zeroes non-finite samples read from files, so the
fault has to be injected after collation), once to stop the run mid-epoch
the way a killed job would.
"""

import json
import os
import shutil

import pytest
import torch
from piq_recipe_factory import import_train_piq, make_tiny_setup, tiny_args
from speechbrain.nnet.schedulers import ReduceLROnPlateau

from speechbrain_piq.brain import PIQBrain
from speechbrain_piq.metrics.stage_stats import StageMetrics

train_piq = import_train_piq()

# 9 training clips in batches of 3: three optimizer steps per epoch.
STEPS_PER_EPOCH = 3


class SimulatedKill(RuntimeError):
    """Stands in for SIGKILL: raised instead of running a training step."""


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    """A 3-class ESC-50 folder and a random tiny conv2d classifier."""
    return make_tiny_setup(tmp_path_factory.mktemp("piq_robustness"))


def read_metrics(run_folder):
    """The ``test_metrics.json`` a run wrote."""
    with open(run_folder / "test_metrics.json", encoding="utf-8") as fin:
        return json.load(fin)


def test_nan_training_batch_is_skipped_logged_and_counted(
    tiny_setup, monkeypatch
):
    root, paths = tiny_setup
    fit_batch = PIQBrain.fit_batch
    on_stage_end = PIQBrain.on_stage_end
    summarize = StageMetrics.summarize
    anneal = ReduceLROnPlateau.__call__
    seen = {"losses": [], "stage_losses": [], "summaries": [], "annealed": []}

    def fit_batch_with_nan_in_first_batch(brain, batch):
        seen["brain"] = brain
        if not seen["losses"]:
            batch.sig.data[0, :100] = float("nan")
            seen["poisoned_ids"] = list(batch.id)
        loss = fit_batch(brain, batch)
        seen["losses"].append(loss)
        return loss

    def recording_on_stage_end(brain, stage, stage_loss, epoch=None):
        seen["stage_losses"].append(stage_loss)
        return on_stage_end(brain, stage, stage_loss, epoch)

    def recording_summarize(metrics):
        seen["summaries"].append(summarize(metrics))
        return seen["summaries"][-1]

    def recording_anneal(scheduler, optimizers, epoch, metric):
        seen["annealed"].append(metric)
        return anneal(scheduler, optimizers, epoch, metric)

    monkeypatch.setattr(
        PIQBrain, "fit_batch", fit_batch_with_nan_in_first_batch
    )
    monkeypatch.setattr(PIQBrain, "on_stage_end", recording_on_stage_end)
    monkeypatch.setattr(StageMetrics, "summarize", recording_summarize)
    monkeypatch.setattr(ReduceLROnPlateau, "__call__", recording_anneal)
    train_piq.main(tiny_args(root, paths, "nan_batch", n_interpretations=0))
    run = root / "nan_batch"

    brain = seen["brain"]
    assert len(seen["losses"]) == STEPS_PER_EPOCH
    assert brain.skipped_batches == 1
    # The skipped batch is left out of the stage loss: the train loss is
    # the mean of the other two (SpeechBrain's own running mean would
    # divide their sum by 3).
    assert torch.isnan(seen["losses"][0])
    trained = [float(loss) for loss in seen["losses"][1:]]
    assert seen["stage_losses"][0] == pytest.approx(sum(trained) / 2)
    # The LR schedule follows the validation selection score (negated: the
    # scheduler minimises), Fid-In x SPS by default.
    summary = seen["summaries"][0]
    assert seen["annealed"] == [-summary["fid_in"] * summary["sps"]]
    train_log = (run / "train_log.txt").read_text()
    assert train_log.count("skipped_batches: 1") == 2  # valid and test
    assert read_metrics(run)["skipped_batches"] == 1
    skip_logs = [
        line
        for line in (run / "log.txt").read_text().splitlines()
        if "Skipping batch" in line
    ]
    assert len(skip_logs) == 1
    assert str(seen["poisoned_ids"]) in skip_logs[0]
    for name, param in brain.modules.psi.named_parameters():
        assert torch.isfinite(param).all(), f"PSI {name} is not finite"
    metrics = read_metrics(run)
    assert all(value is not None for value in metrics.values()), metrics

    # The count is checkpointed: rerunning the finished recipe (test stage
    # only, from the best checkpoint) still reports the skipped batch.
    monkeypatch.setattr(PIQBrain, "fit_batch", fit_batch)
    os.remove(run / "test_metrics.json")
    train_piq.main(tiny_args(root, paths, "nan_batch", n_interpretations=0))
    assert read_metrics(run)["skipped_batches"] == 1


def test_run_killed_mid_epoch_resumes_to_the_same_result(
    tiny_setup, monkeypatch
):
    root, paths = tiny_setup
    # Intra-epoch checkpoints after every step; the recipe's default
    # ckpt_interval_minutes must be off, SpeechBrain allows only one.
    options = {
        "ckpt_interval_steps": 1,
        "ckpt_interval_minutes": 0,
        "n_interpretations": 0,
    }
    train_piq.main(tiny_args(root, paths, "uninterrupted", **options))

    fit_batch = PIQBrain.fit_batch
    kill_at_step = 3  # two steps done and checkpointed, one to go
    steps = {"count": 0}

    def fit_batch_killed_at_step(brain, batch):
        steps["count"] += 1
        if steps["count"] == kill_at_step:
            raise SimulatedKill(f"killed before step {kill_at_step}")
        return fit_batch(brain, batch)

    resumed_args = tiny_args(root, paths, "resumed", **options)
    with monkeypatch.context() as patch:
        patch.setattr(PIQBrain, "fit_batch", fit_batch_killed_at_step)
        with pytest.raises(SimulatedKill):
            train_piq.main(resumed_args)
    assert not (root / "resumed" / "test_metrics.json").exists()

    steps_after_restart = {"count": 0}

    def counting_fit_batch(brain, batch):
        steps_after_restart["count"] += 1
        return fit_batch(brain, batch)

    monkeypatch.setattr(PIQBrain, "fit_batch", counting_fit_batch)
    train_piq.main(resumed_args)

    # Only the steps not yet done were run again.
    assert steps_after_restart["count"] == STEPS_PER_EPOCH - (kill_at_step - 1)
    expected = read_metrics(root / "uninterrupted")
    resumed = read_metrics(root / "resumed")
    assert resumed.keys() == expected.keys()
    # Each run names its own tested checkpoint (folders named by time).
    assert resumed.pop("checkpoint").startswith("CKPT+")
    expected.pop("checkpoint")
    for name, value in expected.items():
        assert resumed[name] == pytest.approx(value, rel=1e-5, abs=1e-7), name
    train_log = (root / "uninterrupted" / "train_log.txt").read_text()
    assert (root / "resumed" / "train_log.txt").read_text() == train_log
    # The intra-epoch checkpoints are gone once their epoch is saved.
    for run_name in ("uninterrupted", "resumed"):
        (checkpoint,) = (root / run_name / "save").glob("CKPT+*")
        assert "fid_in" in (checkpoint / "CKPT.yaml").read_text()


def newest_checkpoint(run_folder):
    """The most recent ``CKPT+...`` folder of a run."""
    return max((run_folder / "save").glob("CKPT+*"), key=lambda p: p.name)


@pytest.fixture(scope="module")
def finished_run(tiny_setup):
    """A finished tiny run, for tests that damage copies of it."""
    root, paths = tiny_setup
    train_piq.main(tiny_args(root, paths, "finished", n_interpretations=0))
    return root / "finished"


def cut_short(path):
    """What a write killed after 100 bytes leaves."""
    path.write_bytes(path.read_bytes()[:100])


def emptied(path):
    """What a write killed before its first byte leaves."""
    path.write_text("")


def garbled(path):
    """Text that no loader parses."""
    path.write_text("{unclosed")


@pytest.mark.parametrize(
    "file_name, damage",
    [
        ("psi.ckpt", cut_short),  # torch.load fails
        ("counter.ckpt", emptied),  # int("") fails
        ("brain.ckpt", emptied),  # yaml reads None
        ("CKPT.yaml", emptied),  # no metadata
        ("CKPT.yaml", garbled),  # a YAML error
    ],
)
def test_damaged_checkpoint_is_a_clear_error_and_nothing_is_deleted(
    tiny_setup, finished_run, file_name, damage
):
    root, paths = tiny_setup
    name = f"damaged_{file_name}_{damage.__name__}"
    shutil.copytree(finished_run, root / name)
    checkpoint = newest_checkpoint(root / name)
    damage(checkpoint / file_name)
    before = sorted(p.name for p in (root / name / "save").iterdir())

    with pytest.raises(RuntimeError) as raised:
        train_piq.main(tiny_args(root, paths, name, n_interpretations=0))

    message = str(raised.value)
    assert str(checkpoint / file_name) in message
    assert f"checkpoint {checkpoint.name} is truncated or damaged" in message
    assert "Move that folder out of" in message
    after = sorted(p.name for p in (root / name / "save").iterdir())
    assert after == before


def test_missing_checkpoint_file_keeps_speechbrains_message(
    tiny_setup, finished_run
):
    root, paths = tiny_setup
    shutil.copytree(finished_run, root / "missing_file")
    checkpoint = newest_checkpoint(root / "missing_file")
    os.remove(checkpoint / "optimizer.ckpt")
    with pytest.raises(RuntimeError) as raised:
        train_piq.main(
            tiny_args(root, paths, "missing_file", n_interpretations=0)
        )
    assert str(checkpoint) in str(raised.value)
    assert "optimizer" in str(raised.value)
    assert "damaged" not in str(raised.value)


def test_rerun_with_another_shape_is_refused_before_anything_is_written(
    tiny_setup,
):
    # A readable checkpoint that does not fit (a rerun with another K in
    # the same folder) is not "damaged": the error names the hparams, and
    # the run's hyperparams.yaml (what an export rebuilds) is kept.
    root, paths = tiny_setup
    train_piq.main(tiny_args(root, paths, "reshaped", n_interpretations=0))
    saved_yaml = (root / "reshaped" / "hyperparams.yaml").read_text()
    with pytest.raises(ValueError) as raised:
        train_piq.main(
            tiny_args(root, paths, "reshaped", n_interpretations=0, K=9)
        )
    assert "psi.ckpt does not fit" in str(raised.value)
    assert "trained with other hparams" in str(raised.value)
    assert "damaged" not in str(raised.value)
    assert (root / "reshaped" / "hyperparams.yaml").read_text() == saved_yaml
