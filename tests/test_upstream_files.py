"""``train_piq.py`` on hparams in the layout of SpeechBrain's own PIQ recipe,
upstream training folders resumed here, and exports loaded by SpeechBrain's
own ``PIQAudioInterpreter``.

The hparams files are written by ``upstream_recipe_factory``. With
``SPEECHBRAIN_CHECKOUT`` set to a SpeechBrain checkout, the last tests run
upstream's actual ``recipes/ESC50/interpret/hparams`` files, unchanged and
with every ``speechbrain.`` swapped for ``speechbrain_piq.``
(docs/upstream_compatibility.md).
"""

import json
import logging
import os
import pydoc
import re

import pytest
import torch
import yaml
from esc50_factory import make_esc50_folder
from hyperpyyaml import load_hyperpyyaml
from piq_recipe_factory import N_CLASSES, REPO, import_train_piq, tiny_args
from upstream_recipe_factory import (
    K,
    save_tiny_classifier,
    upstream_args,
    write_upstream_layout,
)

from speechbrain_piq.inference.export import export_run
from speechbrain_piq.inference.interpreter import PIQAudioInterpreter
from speechbrain_piq.lobes.models.PIQ import (
    Conv2dEncoder_v2,
    VectorQuantizedPSI_Audio,
)
from speechbrain_piq.upstream_hparams import from_upstream_hparams
from speechbrain_piq.upstream_overrides import split_overrides

train_piq = import_train_piq()

CHECKOUT = os.environ.get("SPEECHBRAIN_CHECKOUT")
UPSTREAM_HPARAMS = "recipes/ESC50/interpret/hparams"
UPSTREAM_FILES = ("piq.yaml", "piq_vit.yaml", "piq_focalnet.yaml")
# The dotted SpeechBrain names those files use (checked against the files
# themselves when SPEECHBRAIN_CHECKOUT is set).
UPSTREAM_NAMES = (
    "utils.seed_everything",
    "utils.epoch_loop.EpochCounter",
    "utils.checkpoints.Checkpointer",
    "utils.parameter_transfer.Pretrainer",
    "utils.train_logger.FileTrainLogger",
    "nnet.schedulers.ReduceLROnPlateau",
    "processing.features.STFT",
    "processing.features.ISTFT",
    "processing.features.Filterbank",
    "lobes.models.ECAPA_TDNN.Classifier",
    "lobes.models.PIQ.Conv2dEncoder_v2",
    "lobes.models.PIQ.VectorQuantizedPSI_Audio",
    "lobes.models.PIQ.VectorQuantizedPSIViT_Audio",
    "lobes.models.PIQ.VectorQuantizedPSIFocalNet_Audio",
)


def swap_speechbrain(text):
    """Every ``speechbrain.`` dotted name as ``speechbrain_piq.``."""
    return re.sub(r"\bspeechbrain\.", "speechbrain_piq.", text)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """A 3-class ESC-50 folder under the returned root."""
    root = tmp_path_factory.mktemp("upstream")
    make_esc50_folder(str(root / "data"), n_classes=N_CLASSES)
    return root


@pytest.fixture(scope="module")
def conv2d_run(data_root):
    """A finished run of an upstream-layout conv2d file: (file, classifier
    paths, run folder)."""
    classifier = save_tiny_classifier("conv2d", data_root / "conv2d")
    hparams_file = write_upstream_layout(
        data_root / "piq.yaml", "conv2d", classifier
    )
    train_piq.main(
        upstream_args(hparams_file, data_root, classifier[0], "conv2d_run")
    )
    return hparams_file, classifier[0], data_root / "conv2d_run"


def read_metrics(run):
    with open(run / "test_metrics.json", encoding="utf-8") as fin:
        return json.load(fin)


def test_upstream_layout_runs_to_test_metrics(conv2d_run):
    _, _, run = conv2d_run
    metrics = read_metrics(run)
    assert 0 <= metrics["fid_in"] <= 1
    checkpoints = [p for p in (run / "save").iterdir() if p.name[:5] == "CKPT+"]
    assert checkpoints
    # Upstream's checkpointer: PSI saved under upstream's name.
    assert (checkpoints[0] / "psi_model.ckpt").is_file()


def load_mapped(hparams_file, data_root, *args):
    """The recipe's hparams for an upstream-layout file, as ``train_piq.py``
    reads them (no training); ``args`` are YAML override lines."""
    args = (
        f"data_folder: {data_root / 'data'}",
        f"output_folder: {data_root / 'mapped'}",
        *args,
    )
    overrides, options = split_overrides(str(hparams_file), "\n".join(args))
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    return from_upstream_hparams(hparams, str(hparams_file), options)


def test_mapping_notes_reach_the_run_log(conv2d_run):
    _, _, run = conv2d_run
    log = (run / "log.txt").read_text()
    assert "pretrained_esc50 read as pretrainer" in log
    assert "are ignored" in log


def test_each_mapping_is_logged_and_ignored_options_named_once(
    data_root, conv2d_run, caplog
):
    hparams_file, paths, _ = conv2d_run
    with caplog.at_level(logging.INFO, logger="speechbrain_piq"):
        hparams = load_mapped(hparams_file, data_root, "clip_seconds: 2.0")
        hparams.log()
    hparams = hparams.hparams
    assert hparams["clip_seconds"] == 2.0
    assert hparams["train_folds"] == [1, 2, 3]
    messages = [r.getMessage() for r in caplog.records]
    for mapping in (
        "pretrained_esc50 read as pretrainer",
        "psi_model read as psi",
        "train_fold_nums read as train_folds",
        "valid_fold_nums read as valid_folds",
        "test_fold_nums read as test_folds",
        "compute_stft read as compute_features",
        "save_interpretations: False read as n_interpretations: 0",
        "audio_classifier (Conv2dAudioClassifier)",
        "best_checkpoint_metric not given, using 'loss'",
    ):
        assert any(mapping in m for m in messages), mapping
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "are ignored" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert (
        "train_annotation, valid_annotation, test_annotation" in (warnings[0])
    )
    assert "skip_manifest_creation" in warnings[0]


@pytest.mark.parametrize("backbone", ["vit", "focalnet"])
def test_transformer_backbones_run_with_a_blind_speechbrain_swap(
    data_root, backbone
):
    classifier = save_tiny_classifier(backbone, data_root / backbone)
    hparams_file = write_upstream_layout(
        data_root / f"piq_{backbone}.yaml", backbone, classifier
    )
    hparams_file.write_text(swap_speechbrain(hparams_file.read_text()))
    assert "speechbrain_piq.utils.seed_everything" in hparams_file.read_text()
    train_piq.main(
        upstream_args(
            hparams_file,
            data_root,
            classifier[0],
            f"{backbone}_run",
            "--train_fold_nums",
            "[1]",  # one batch: these decoders are the slowest on a CPU
        )
    )
    assert 0 <= read_metrics(data_root / f"{backbone}_run")["fid_in"] <= 1


def test_a_swapped_conv2d_file_builds_our_modules(data_root, conv2d_run):
    hparams_file, _, _ = conv2d_run
    swapped = data_root / "piq_swapped.yaml"
    swapped.write_text(swap_speechbrain(hparams_file.read_text()))
    hparams = load_mapped(swapped, data_root).hparams
    assert isinstance(hparams["psi"], VectorQuantizedPSI_Audio)
    assert isinstance(hparams["embedding_model"], Conv2dEncoder_v2)


@pytest.mark.parametrize("name", UPSTREAM_NAMES)
def test_every_swapped_upstream_name_resolves(name):
    ours = pydoc.locate(f"speechbrain_piq.{name}")
    assert ours is not None
    if not name.startswith("lobes.models.PIQ."):
        assert ours is pydoc.locate(f"speechbrain.{name}")


def test_options_with_no_counterpart_stop_in_one_error(data_root, conv2d_run):
    hparams_file, paths, _ = conv2d_run
    with pytest.raises(ValueError) as raised:
        train_piq.main(
            upstream_args(
                hparams_file,
                data_root,
                paths,
                "refused",
                "--use_vq",
                "False",
                "--use_melspectra_log1p",
                "True",
                "--use_mask_output",
                "False",
                "--audio_data_folder",
                str(data_root / "elsewhere"),
            )
        )
    message = str(raised.value)
    assert "use_vq: False" in message
    assert "use_melspectra_log1p: True" in message
    assert "use_mask_output: False" in message
    assert "audio_data_folder" in message
    assert not (data_root / "refused" / "hyperparams.yaml").exists()


def test_our_option_names_are_refused_with_upstreams_name(
    data_root, conv2d_run
):
    hparams_file, paths, _ = conv2d_run
    args = upstream_args(hparams_file, data_root, paths, "renamed")
    with pytest.raises(ValueError, match="give train_fold_nums instead"):
        train_piq.main([*args, "--train_folds", "[1]"])
    with pytest.raises(ValueError, match="besides its own entries"):
        train_piq.main([*args, "--no_such_option", "1"])


@pytest.fixture(scope="module")
def resumed_run(data_root, conv2d_run):
    """The upstream-layout run, its CKPT.yaml files holding upstream's
    metrics, resumed for a second epoch with a file of this recipe's
    layout."""
    _, paths, run = conv2d_run
    for meta_file in (run / "save").glob("CKPT+*/CKPT.yaml"):
        meta = yaml.safe_load(meta_file.read_text())
        upstream_meta = {
            "end-of-epoch": meta["end-of-epoch"],
            "unixtime": meta["unixtime"],
            "loss": meta["loss"],
            "input_fidelity": meta["fid_in"],
        }
        meta_file.write_text(yaml.dump(upstream_meta))
    (run / "test_metrics.json").unlink()
    # Our file with upstream's PSI decoder (piq.yaml's has other weights).
    args = tiny_args(
        data_root,
        paths,
        run.name,
        number_of_epochs=2,
        K=K,
        clip_seconds=1.0,
        n_interpretations=0,
    )
    train_piq.main(
        [os.path.join(REPO, "hparams", "piq_upstream.yaml")] + args[1:]
    )
    return run


def test_an_upstream_training_folder_resumes_with_our_hparams(resumed_run):
    log = (resumed_run / "train_log.txt").read_text()
    assert log.count("epoch: 1,") == 1, log
    assert "epoch: 2," in log
    assert "psi is saved and loaded there as psi_model" in (
        (resumed_run / "log.txt").read_text()
    )
    tested = resumed_run / "save" / read_metrics(resumed_run)["checkpoint"]
    assert (tested / "psi_model.ckpt").is_file()
    assert not (tested / "psi.ckpt").exists()


def test_our_conv2d_export_loads_in_speechbrains_interpreter(
    data_root, resumed_run
):
    from speechbrain.inference.interpretability import (
        PIQAudioInterpreter as UpstreamInterpreter,
    )

    export = export_run(resumed_run, data_root / "export")
    upstream = UpstreamInterpreter.from_hparams(
        source=str(export),
        savedir=str(data_root / "upstream_savedir"),
        run_opts={"device": "cpu"},
    )
    ours = PIQAudioInterpreter.from_hparams(
        source=str(export), run_opts={"device": "cpu"}
    )
    torch.manual_seed(0)
    wavs = torch.randn(2, 16000)
    waveforms, labels = upstream.interpret_batch(wavs)
    assert waveforms.shape[0] == 2
    assert labels == [[result.label for result in ours.interpret_batch(wavs)]]


needs_checkout = pytest.mark.skipif(
    CHECKOUT is None,
    reason="set SPEECHBRAIN_CHECKOUT to a SpeechBrain checkout",
)


def upstream_file(name):
    with open(
        os.path.join(CHECKOUT, UPSTREAM_HPARAMS, name), encoding="utf-8"
    ) as fin:
        return fin.read()


@needs_checkout
def test_the_swapped_names_are_those_upstreams_files_use():
    used = set()
    for name in UPSTREAM_FILES:
        used |= set(
            re.findall(r"!\w+:speechbrain\.([\w.]+)", upstream_file(name))
        )
    assert used == set(UPSTREAM_NAMES)


# Tiny sizes for upstream's actual files: their entries merged with these.
ACTUAL_SIZES = {
    "piq.yaml": ("conv2d", "{dim: 8}"),
    "piq_vit.yaml": ("vit", None),
    "piq_focalnet.yaml": ("focalnet", None),
}


@needs_checkout
@pytest.mark.parametrize("swap", [False, True], ids=["unchanged", "swapped"])
@pytest.mark.parametrize("name", UPSTREAM_FILES)
def test_upstreams_actual_files_run(data_root, name, swap):
    backbone, encoder_sizes = ACTUAL_SIZES[name]
    classifier = save_tiny_classifier(backbone, data_root / f"actual_{name}")
    paths, width, entry = classifier
    text = upstream_file(name)
    hparams_file = data_root / f"actual_{swap}_{name}"
    hparams_file.write_text(swap_speechbrain(text) if swap else text)
    embedding_model = encoder_sizes or entry.split(": ", 1)[1]
    run = f"actual_{swap}_{name[:-5]}_run"
    train_piq.main(
        upstream_args(
            hparams_file,
            data_root,
            paths,
            run,
            "--embedding_model",
            embedding_model,
            "--classifier",
            f"{{input_size: {width}}}",
            "--psi_model",
            f"{{dim: {width}}}",
            "--out_n_neurons",
            str(N_CLASSES),
            "--number_of_epochs",
            "1",
            "--batch_size",
            "3",
            "--K",
            str(K),
        )
    )
    assert 0 <= read_metrics(data_root / run)["fid_in"] <= 1
