"""Few-step runs of ``recipes/ESC50/train_classifier.py`` on generated data."""

import json
import os
import sys

import pytest
import torch
from esc50_factory import make_esc50_folder
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.checkpoints import Checkpointer
from speechbrain.utils.parameter_transfer import Pretrainer
from transformers import FocalNetBackbone, FocalNetConfig, ViTConfig, ViTModel

from speechbrain_piq.classifiers import load_pretrained_classifier

RECIPE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "recipes",
    "ESC50",
)
sys.path.insert(0, RECIPE)
import train_classifier  # noqa: E402

HPARAMS = os.path.join(RECIPE, "hparams", "conv2d_classifier.yaml")
EPOCHS = 2


def tiny_args(root, run_name, *extra, hparams=HPARAMS, embedding_dim=8):
    """Command line of a fast CPU run: ESC-10 rows of a 4-class folder."""
    return [
        hparams,
        f"--data_folder={root / 'data'}",
        f"--output_folder={root / run_name}",
        "--subset=esc10",
        "--out_n_neurons=2",
        f"--embedding_dim={embedding_dim}",
        "--clip_seconds=1.0",
        "--batch_size=3",
        "--num_workers=0",
        f"--number_of_epochs={EPOCHS}",
        "--noprogressbar",
        *extra,
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Trains once; targets 0 and 2 of four are the ESC-10 classes."""
    root = tmp_path_factory.mktemp("train_classifier")
    make_esc50_folder(str(root / "data"), n_classes=4, esc10_targets=[0, 2])
    train_classifier.main(tiny_args(root, "run"))
    return root, root / "run"


def test_run_writes_test_metrics(trained):
    _, run = trained
    with open(run / "test_metrics.json", encoding="utf-8") as metrics_file:
        metrics = json.load(metrics_file)
    assert metrics["subset"] == "esc10"
    assert metrics["n_clips"] == 2
    assert 0 <= metrics["accuracy"] <= 1
    assert metrics["accuracy"] == pytest.approx(1 - metrics["error"])
    assert metrics["loss"] == metrics["loss"], "NaN test loss"
    log = (run / "train_log.txt").read_text()
    assert log.count("valid accuracy") == EPOCHS
    assert "test accuracy" in log


def test_pretrained_files_are_the_best_checkpoint(trained):
    _, run = trained
    pretrained = run / "pretrained"
    assert sorted(os.listdir(pretrained)) == [
        "classifier.ckpt",
        "embedding_model.ckpt",
        "label_encoder.txt",
    ]
    best = Checkpointer(run / "save").find_checkpoint(min_key="error")
    for name in ("embedding_model", "classifier"):
        exported = torch.load(pretrained / f"{name}.ckpt")
        saved = torch.load(best.paramfiles[name])
        assert exported.keys() == saved.keys()
        assert all(torch.equal(exported[key], saved[key]) for key in saved)
    assert "'class_0' => 0" in (pretrained / "label_encoder.txt").read_text()


def test_pretrainer_loads_the_files_into_the_yaml_classifier(trained):
    root, run = trained
    with open(HPARAMS, encoding="utf-8") as yaml_file:
        hparams = load_hyperpyyaml(
            yaml_file,
            {
                "data_folder": str(root / "data"),
                "output_folder": str(root / "reload"),
                "embedding_dim": 8,
                "out_n_neurons": 2,
            },
        )
    model = hparams["audio_classifier"]
    pretrainer = Pretrainer(
        collect_in=str(root / "reload"),
        loadables={
            "embedding_model": model.embedding_model,
            "classifier": model.classifier,
        },
        paths={
            "embedding_model": str(run / "pretrained" / "embedding_model.ckpt"),
            "classifier": str(run / "pretrained" / "classifier.ckpt"),
        },
    )
    load_pretrained_classifier(pretrainer, model, out_n_neurons=2)
    exported = torch.load(run / "pretrained" / "classifier.ckpt")
    assert torch.equal(model.classifier.weight, exported["weight"])


def test_rerun_resumes_instead_of_retraining(trained):
    root, run = trained
    train_classifier.main(tiny_args(root, "run"))
    log = (run / "train_log.txt").read_text()
    assert log.count("valid accuracy") == EPOCHS
    assert log.count("test accuracy") == 2


def test_label_count_mismatch_is_a_clear_error(trained):
    root, _ = trained
    args = tiny_args(root, "mismatch")
    args[args.index("--out_n_neurons=2")] = "--out_n_neurons=10"
    with pytest.raises(
        ValueError,
        match="the data has 2 classes but hparams say out_n_neurons: 10; "
        "set out_n_neurons: 2",
    ):
        train_classifier.main(args)


def test_training_set_smaller_than_a_dropped_batch_is_an_error(tmp_path):
    make_esc50_folder(
        str(tmp_path / "data"), n_classes=4, esc10_targets=[0, 2], seconds=0.5
    )
    args = tiny_args(tmp_path, "run")
    args[args.index("--batch_size=3")] = "--batch_size=7"
    with pytest.raises(
        ValueError,
        match="drop_last: True and batch_size: 7, more than the 6 training",
    ):
        train_classifier.main(args)
    assert not (tmp_path / "run" / "pretrained").exists()


def test_unknown_subset_names_the_subsets(tmp_path):
    args = [arg for arg in tiny_args(tmp_path, "run") if "out_n" not in arg]
    args[args.index("--subset=esc10")] = "--subset=esc20"
    with pytest.raises(
        ValueError,
        match=r"subset must be one of \('esc50', 'esc10'\), got 'esc20'",
    ):
        train_classifier.main(args)


def save_tiny_vit(folder):
    """A 1-layer ViT in ``from_pretrained``'s folder layout; its width."""
    config = ViTConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    ViTModel(config).save_pretrained(folder)
    return config.hidden_size


def save_tiny_focalnet(folder):
    """A 4-stage, 1-block-per-stage FocalNet backbone; its output width."""
    config = FocalNetConfig(
        embed_dim=8, depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 64, 64]
    )
    FocalNetBackbone(config).save_pretrained(folder)
    return config.hidden_sizes[-1]


@pytest.mark.parametrize(
    "yaml_name, save_backbone",
    [
        ("vit_classifier.yaml", save_tiny_vit),
        ("focalnet_classifier.yaml", save_tiny_focalnet),
    ],
    ids=["vit", "focalnet"],
)
def test_transformer_recipes_train_from_a_local_backbone(
    yaml_name, save_backbone, tmp_path
):
    make_esc50_folder(str(tmp_path / "data"), n_classes=4, esc10_targets=[0, 2])
    width = save_backbone(tmp_path / "backbone")
    train_classifier.main(
        tiny_args(
            tmp_path,
            "run",
            f"--backbone_source={tmp_path / 'backbone'}",
            hparams=os.path.join(RECIPE, "hparams", yaml_name),
            embedding_dim=width,
        )
    )

    run = tmp_path / "run"
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1
    assert sorted(os.listdir(run / "pretrained")) == [
        "classifier.ckpt",
        "embedding_model.ckpt",
        "label_encoder.txt",
    ]


def test_rerun_with_other_shapes_is_refused_before_anything_is_written(
    trained,
):
    root, run = trained
    saved_yaml = (run / "hyperparams.yaml").read_text()
    with pytest.raises(ValueError, match="does not fit.*other hparams"):
        train_classifier.main(tiny_args(root, "run", embedding_dim=16))
    assert (run / "hyperparams.yaml").read_text() == saved_yaml
