"""End-to-end runs of ``train_piq.py`` on a tiny generated ESC-50 folder."""

import json
import os
import re
import shutil

import pytest
import torch
from offline_hub import offline_hub_cache
from piq_recipe_factory import (
    REPO,
    import_train_piq,
    make_tiny_setup,
    tiny_args,
)
from speechbrain.dataio.encoder import CategoricalEncoder

from speechbrain_piq.dataio.esc50_metadata import label_encoder_for
from speechbrain_piq.inference.export import best_checkpoint, export_run

train_piq = import_train_piq()

EXPECTED_METRICS = {
    "fid_in",
    "faithfulness",
    "ai",
    "ad",
    "ag",
    "sps",
    "comp",
    "accuracy",
    "loss",
    "mask_in_loss",
    "mask_out_loss",
    "mask_area_loss",
    "vq_loss",
    "commit_loss",
}


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    """A 3-class ESC-50 folder and a random tiny conv2d classifier."""
    return make_tiny_setup(tmp_path_factory.mktemp("piq"))


def test_tiny_run_trains_evaluates_and_writes_outputs(tiny_setup):
    root, paths = tiny_setup
    train_piq.main(tiny_args(root, paths, "run", "--fidelity_loss_coef", "0.5"))
    run = root / "run"
    with open(run / "test_metrics.json") as metrics_file:
        metrics = json.load(metrics_file)
    assert EXPECTED_METRICS | {"fidelity_loss"} <= set(metrics)
    assert all(value == value for value in metrics.values()), (
        f"NaN in {metrics}"
    )
    assert 0 <= metrics["fid_in"] <= 1
    assert metrics["checkpoint"] == best_checkpoint(run / "save").path.name
    clips = sorted(os.listdir(run / "interpretations" / "test"))
    assert len(clips) == 2
    for clip in clips:
        files = set(os.listdir(run / "interpretations" / "test" / clip))
        assert files == {
            "original.wav",
            "interpretation.wav",
            "interpretation.png",
        }
    assert os.listdir(run / "interpretations" / "valid_epoch1")
    assert (run / "train_log.txt").read_text().count("fid_in") >= 2


def copy_classifier(paths, folder):
    """Copies the classifier's checkpoint files into ``folder``."""
    folder.mkdir()
    for name, path in paths.items():
        shutil.copy(path, folder / f"{name}.ckpt")
    return {name: str(folder / f"{name}.ckpt") for name in paths}


def test_a_classifier_changed_under_a_run_is_refused_on_resume_and_export(
    tiny_setup, tmp_path
):
    root, paths = tiny_setup
    copied = copy_classifier(paths, tmp_path / "classifier")
    train_piq.main(tiny_args(root, copied, "changed", n_interpretations=0))
    # The classifier is trained further in place.
    weights = torch.load(copied["classifier"])
    torch.save({k: v + 1 for k, v in weights.items()}, copied["classifier"])
    resume = tiny_args(root, copied, "changed", number_of_epochs=2)
    with pytest.raises(ValueError, match="the classifier changed since"):
        train_piq.main(resume)
    with pytest.raises(ValueError, match="interpreter was trained against"):
        export_run(root / "changed", tmp_path / "export")
    torch.save(weights, copied["classifier"])
    export_run(root / "changed", tmp_path / "export")


def test_the_classifiers_label_encoder_beside_it_numbers_the_classes(
    tiny_setup, tmp_path
):
    root, paths = tiny_setup
    theirs = copy_classifier(paths, tmp_path / "their_classifier")
    order = ["class_2", "class_0", "class_1"]
    label_encoder_for(order).save(
        tmp_path / "their_classifier" / "label_encoder.txt"
    )
    train_piq.main(tiny_args(root, theirs, "their_labels", number_of_epochs=0))
    saved = CategoricalEncoder.from_saved(
        root / "their_labels" / "save" / "label_encoder.txt"
    )
    assert saved.lab2ind == {name: i for i, name in enumerate(order)}


@pytest.mark.parametrize("ships_labels", [True, False])
def test_a_hub_classifiers_label_encoder_numbers_the_classes(
    tiny_setup, tmp_path, monkeypatch, ships_labels
):
    root, paths = tiny_setup
    repo = tmp_path / "repo"
    copy_classifier(paths, repo)
    theirs = ["class_1", "class_2", "class_0"]
    if ships_labels:
        label_encoder_for(theirs).save(repo / "label_encoder.txt")
    offline_hub_cache(monkeypatch, tmp_path, repo, "owner/tiny-esc50")
    hub = {name: f"owner/tiny-esc50/{name}.ckpt" for name in paths}
    run_name = f"hub_labels_{ships_labels}"
    train_piq.main(tiny_args(root, hub, run_name, number_of_epochs=0))
    saved = CategoricalEncoder.from_saved(
        root / run_name / "save" / "label_encoder.txt"
    )
    # Without the repo's file: upstream's order (here, first appearance).
    expected = theirs if ships_labels else ["class_0", "class_1", "class_2"]
    assert saved.lab2ind == {name: i for i, name in enumerate(expected)}


def test_wrong_class_count_is_a_clear_error(tiny_setup):
    root, paths = tiny_setup
    args = tiny_args(root, paths, "wrong_classes")
    args[args.index("--out_n_neurons") + 1] = "5"
    with pytest.raises(ValueError, match="3 outputs.*out_n_neurons: 5"):
        train_piq.main(args)


def test_missing_classifier_checkpoint_is_a_clear_error(tiny_setup):
    root, paths = tiny_setup
    args = tiny_args(root, paths, "missing_ckpt")
    args[args.index("--classifier_model_path") + 1] = str(root / "nope.ckpt")
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        train_piq.main(args)


def test_psi_dim_mismatch_is_a_clear_error(tiny_setup):
    root, paths = tiny_setup
    args = tiny_args(root, paths, "dim_mismatch")
    hparams = (
        open(args[0])
        .read()
        .replace("dim: !ref <embedding_dim>\n    K:", "dim: 16\n    K:")
    )
    yaml_path = root / "psi_dim16.yaml"
    yaml_path.write_text(hparams)
    args[0] = str(yaml_path)
    with pytest.raises(ValueError, match="8 channels.*dim=16"):
        train_piq.main(args)


def test_k_that_cannot_be_split_is_a_clear_error(tiny_setup):
    root, paths = tiny_setup
    args = tiny_args(root, paths, "bad_k")
    args[args.index("--K") + 1] = "2"
    with pytest.raises(ValueError, match="among 3 classes"):
        train_piq.main(args)


@pytest.mark.parametrize(
    "name, dim",
    [("piq.yaml", 256), ("piq_vit.yaml", 768), ("piq_focalnet.yaml", 1024)],
)
def test_recipe_hparams_build_offline(name, dim):
    """Each backbone's hparams build classifier and PSI without network,
    with matching representation channels."""
    from hyperpyyaml import load_hyperpyyaml

    with open(os.path.join(REPO, "hparams", name)) as fin:
        hparams = load_hyperpyyaml(fin, {"data_folder": "unused"})
    assert hparams["psi"].dim == dim == hparams["embedding_dim"]
    assert hparams["audio_classifier"].n_classes == hparams["out_n_neurons"]


@pytest.mark.parametrize("metric", ["fid_in", "loss"])
def test_test_stage_and_export_use_the_chosen_best_checkpoint(
    tiny_setup, metric
):
    root, paths = tiny_setup
    name = f"best_by_{metric}"
    train_piq.main(
        tiny_args(
            root,
            paths,
            name,
            number_of_epochs=3,
            n_interpretations=0,
            best_checkpoint_metric=metric,
        )
    )
    train_log = (root / name / "train_log.txt").read_text().splitlines()
    epochs = {}
    for line in train_log[:3]:
        epoch = int(re.search(r"epoch: (\d+)", line)[1])
        fid_in = float(re.search(r"valid fid_in: (\S+?),", line)[1])
        loss = float(re.search(r"valid loss: (\S+?),", line)[1])
        epochs[epoch] = (fid_in, -loss) if metric == "fid_in" else (-loss,)
    best = max(epochs, key=epochs.get)
    assert f"Epoch loaded: {best} " in train_log[3]
    assert best_checkpoint(root / name / "save").meta["selected_by"] == metric
