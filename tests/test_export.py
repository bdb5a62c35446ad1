"""Exporting a train_piq.py run as a hub-ready folder, and pushing it.

``make_piq_run`` fabricates a finished run (tiny dimensions, random weights)
in the layout the interpreter Brain writes; test_inference and test_cli
import it from here.
"""

import json
import time
import types
from unittest import mock

import pytest
import soundfile
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.utils.checkpoints import Checkpointer

from speechbrain_piq.inference import PIQAudioInterpreter
from speechbrain_piq.inference.export import (
    HubHTTPError,
    best_checkpoint,
    export_run,
    push_to_hub,
)

CLASSES = ["dog", "rain", "siren"]
SAMPLE_RATE = 16000

# What SpeechBrain copies into <run>/hyperparams.yaml (overrides applied),
# reduced to tiny dimensions.
TRAINING_YAML = """\
# Generated 2024-01-01 from:
# recipes/ESC50/hparams/piq.yaml
# yamllint disable
seed: 1234
__set_seed: !apply:speechbrain.utils.seed_everything [!ref <seed>]
data_folder: {data_folder}
output_folder: {run_dir}
save_folder: !ref <output_folder>/save
sample_rate: 16000
out_n_neurons: 3
embedding_dim: 8
n_fft: 1024
hop_length: 11.6099
win_length: 23.2199
spec_mag_power: 0.5
number_of_epochs: 3
lr: 0.001

compute_features: !new:speechbrain_piq.features.LogPowerSpectrogram
    sample_rate: !ref <sample_rate>
    n_fft: !ref <n_fft>
    hop_length: !ref <hop_length>
    win_length: !ref <win_length>
    spec_mag_power: !ref <spec_mag_power>
compute_istft: !new:speechbrain.processing.features.ISTFT
    sample_rate: !ref <sample_rate>
    n_fft: !ref <n_fft>
    hop_length: !ref <hop_length>
    win_length: !ref <win_length>

embedding_model_path: {classifier_dir}/embedding_model.ckpt
classifier_model_path: {classifier_dir}/classifier.ckpt
embedding_model: !new:speechbrain_piq.lobes.models.PIQ.Conv2dEncoder_v2
    dim: !ref <embedding_dim>
classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: !ref <embedding_dim>
    out_neurons: !ref <out_n_neurons>
    lin_blocks: 1
audio_classifier: !new:speechbrain_piq.classifiers.Conv2dAudioClassifier
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    collect_in: !ref <save_folder>
    loadables:
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
    paths:
        embedding_model: !ref <embedding_model_path>
        classifier: !ref <classifier_model_path>

psi: !new:speechbrain_piq.lobes.models.PIQ.VectorQuantizedPSI_Audio
    dim: !ref <embedding_dim>
    K: 12
    numclasses: !ref <out_n_neurons>
modules:
    compute_features: !ref <compute_features>
    compute_istft: !ref <compute_istft>
    psi: !ref <psi>
opt_class: !name:torch.optim.Adam
    lr: !ref <lr>
epoch_counter: !new:speechbrain.utils.epoch_loop.EpochCounter
    limit: !ref <number_of_epochs>
checkpointer: !new:speechbrain.utils.checkpoints.Checkpointer
    checkpoints_dir: !ref <save_folder>
    recoverables:
        psi: !ref <psi>
        counter: !ref <epoch_counter>
"""

TEST_METRICS = {"loss": 1.2345678, "fid_in": 0.8125, "accuracy": 0.75}


def load_training_hparams(run_dir):
    """The run's modules as train_piq.py builds them (random weights)."""
    with open(run_dir / "hyperparams.yaml", encoding="utf-8") as stream:
        return load_hyperpyyaml(stream)


def make_piq_run(root, collect_classifier=True):
    """Writes a finished tiny run; returns its paths and trained modules.

    The checkpoints, in saving order: (fid_in 0.5, loss 1.0), the best
    (0.8, 1.5), a tie on fid_in with a higher loss (0.8, 2.0), and an
    intra-epoch one with a higher fid_in that the export must ignore.
    """
    run_dir = root / "run"
    classifier_dir = root / "classifier"
    save_folder = run_dir / "save"
    save_folder.mkdir(parents=True)
    classifier_dir.mkdir()
    (run_dir / "hyperparams.yaml").write_text(
        TRAINING_YAML.format(
            data_folder=root / "ESC-50-master",
            run_dir=run_dir,
            classifier_dir=classifier_dir,
        )
    )
    torch.manual_seed(0)
    hparams = load_training_hparams(run_dir)
    for name in ("embedding_model", "classifier"):
        state = hparams[name].state_dict()
        torch.save(state, classifier_dir / f"{name}.ckpt")
        if collect_classifier:
            torch.save(state, save_folder / f"{name}.ckpt")
    psi = hparams["psi"]
    checkpointer = Checkpointer(save_folder, recoverables={"psi": psi})
    best_state = None
    for fid_in, loss, end_of_epoch in (
        (0.5, 1.0, True),
        (0.8, 1.5, True),
        (0.8, 2.0, True),
        (0.95, 0.1, False),
    ):
        for parameter in psi.parameters():
            torch.nn.init.normal_(parameter, std=0.1)
        checkpointer.save_checkpoint(
            meta={"fid_in": fid_in, "loss": loss}, end_of_epoch=end_of_epoch
        )
        if (fid_in, loss) == (0.8, 1.5):
            best_state = {k: v.clone() for k, v in psi.state_dict().items()}
    encoder = CategoricalEncoder()
    encoder.update_from_iterable(CLASSES)
    encoder.save(save_folder / "label_encoder.txt")
    (run_dir / "test_metrics.json").write_text(json.dumps(TEST_METRICS))
    psi.load_state_dict(best_state)
    return types.SimpleNamespace(
        run_dir=run_dir,
        classifier_dir=classifier_dir,
        hparams=hparams,
        best_psi_state=best_state,
    )


def write_clip(path, seconds=1.0, sample_rate=SAMPLE_RATE, channels=1, seed=0):
    """A peak-normalised tone in noise, as float WAV; returns [time, ch]."""
    generator = torch.Generator().manual_seed(seed)
    time = torch.arange(int(seconds * sample_rate)) / sample_rate
    tone = torch.sin(2 * torch.pi * 440.0 * time)
    noise = 0.3 * torch.randn(time.shape[0], channels, generator=generator)
    signal = tone.unsqueeze(1) + noise
    signal = signal / signal.abs().max()
    soundfile.write(path, signal.numpy(), sample_rate, subtype="FLOAT")
    return signal


@pytest.fixture
def piq_run(tmp_path):
    return make_piq_run(tmp_path)


def test_export_writes_a_hub_folder(piq_run, tmp_path):
    out_dir = export_run(piq_run.run_dir, tmp_path / "export", "me/tiny-piq")
    names = sorted(path.name for path in out_dir.iterdir())
    assert names == [
        "README.md",
        "classifier.ckpt",
        "embedding_model.ckpt",
        "hyperparams.yaml",
        "label_encoder.txt",
        "psi.ckpt",
    ]
    hparams = (out_dir / "hyperparams.yaml").read_text()
    assert "pretrained_path: me/tiny-piq" in hparams
    # Training-only entries stay behind.
    for key in ("data_folder", "checkpointer", "opt_class", "lr:"):
        assert key not in hparams
    card = (out_dir / "README.md").read_text()
    assert "| fid_in | 0.8125 |" in card
    assert "| loss | 1.235 |" in card
    assert 'from_hparams(source="me/tiny-piq")' in card
    assert "dog, rain, siren" in card
    assert "Conv2dAudioClassifier (Conv2dEncoder_v2 + Classifier)" in card


def test_export_takes_the_best_end_of_epoch_psi(piq_run, tmp_path):
    out_dir = export_run(piq_run.run_dir, tmp_path / "export")
    exported = torch.load(out_dir / "psi.ckpt")
    for key, value in piq_run.best_psi_state.items():
        assert torch.equal(exported[key], value), key
    checkpoint = best_checkpoint(piq_run.run_dir / "save")
    assert checkpoint.meta["fid_in"] == 0.8
    assert checkpoint.meta["loss"] == 1.5


def test_export_fetches_classifier_from_pretrainer_paths(tmp_path):
    run = make_piq_run(tmp_path, collect_classifier=False)
    out_dir = export_run(run.run_dir, tmp_path / "export")
    exported = torch.load(out_dir / "classifier.ckpt")
    original = torch.load(run.classifier_dir / "classifier.ckpt")
    assert exported.keys() == original.keys()
    assert all(torch.equal(exported[k], original[k]) for k in original)


def test_exported_yaml_builds_the_training_modules(piq_run, tmp_path):
    out_dir = export_run(piq_run.run_dir, tmp_path / "export")
    interpreter = PIQAudioInterpreter.from_hparams(
        out_dir, run_opts={"device": "cpu"}
    )
    trained = piq_run.hparams
    ours = interpreter.mods
    # One shared embedding model, as in the training yaml.
    assert (
        ours.audio_classifier.embedding_model
        is interpreter.hparams.embedding_model
    )
    for name in ("embedding_model", "classifier"):
        theirs = trained[name].state_dict()
        mine = getattr(ours.audio_classifier, name).state_dict()
        assert all(torch.equal(mine[k], theirs[k]) for k in theirs), name
    assert interpreter.sample_rate == SAMPLE_RATE


def test_export_errors_name_the_problem(piq_run, tmp_path):
    with pytest.raises(FileNotFoundError, match="has no hyperparams.yaml"):
        export_run(tmp_path / "nowhere", tmp_path / "export")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_run(piq_run.run_dir, busy)
    for checkpoint in (piq_run.run_dir / "save").glob("CKPT+*"):
        (checkpoint / "CKPT.yaml").write_text("end-of-epoch: true\n")
    with pytest.raises(FileNotFoundError, match="no end-of-epoch checkpoint"):
        export_run(piq_run.run_dir, tmp_path / "export")


def test_push_uploads_the_folder_with_the_users_token(tmp_path):
    with mock.patch("speechbrain_piq.inference.export.HfApi") as api_class:
        push_to_hub(tmp_path, "me/tiny-piq", private=True)
    api_class.assert_called_once_with(token=None)
    api = api_class.return_value
    api.create_repo.assert_called_once_with(
        "me/tiny-piq", repo_type="model", private=True, exist_ok=True
    )
    upload = api.upload_folder.call_args.kwargs
    assert upload["folder_path"] == str(tmp_path)
    assert upload["repo_id"] == "me/tiny-piq"


def best_psi_file(run_dir):
    return best_checkpoint(run_dir / "save").path / "psi.ckpt"


def test_damaged_run_leaves_no_folder_and_names_the_file(piq_run, tmp_path):
    psi_file = best_psi_file(piq_run.run_dir)
    intact = psi_file.read_bytes()
    psi_file.write_bytes(intact[: len(intact) // 2])
    (tmp_path / "exports").mkdir()
    out_dir = tmp_path / "exports" / "tiny"
    with pytest.raises(ValueError, match="truncated or damaged") as raised:
        export_run(piq_run.run_dir, out_dir)
    assert str(psi_file) in str(raised.value)
    assert list((tmp_path / "exports").iterdir()) == []

    psi_file.write_bytes(intact)
    assert export_run(piq_run.run_dir, out_dir) == out_dir
    assert list((tmp_path / "exports").iterdir()) == [out_dir]


def test_failed_check_leaves_the_previous_export_whole(piq_run, tmp_path):
    out_dir = export_run(piq_run.run_dir, tmp_path / "export")
    before = {path.name: path.read_bytes() for path in out_dir.iterdir()}
    # Found only when the written folder is loaded, after every copy.
    encoder = CategoricalEncoder()
    encoder.update_from_iterable(CLASSES[:2])
    encoder.save(piq_run.run_dir / "save" / "label_encoder.txt")
    with pytest.raises(ValueError, match="3 outputs but the label encoder"):
        export_run(piq_run.run_dir, out_dir, overwrite=True)
    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "classifier",
        "export",
        "run",
    ]


def test_overwrite_replaces_the_export_and_keeps_other_files(piq_run, tmp_path):
    out_dir = tmp_path / "export"
    out_dir.mkdir()
    (out_dir / "notes.txt").write_text("mine")
    (out_dir / "psi.ckpt").write_text("stale")
    export_run(piq_run.run_dir, out_dir, overwrite=True)
    assert (out_dir / "notes.txt").read_text() == "mine"
    exported = torch.load(out_dir / "psi.ckpt")
    assert all(
        torch.equal(exported[key], value)
        for key, value in piq_run.best_psi_state.items()
    )


@pytest.mark.parametrize("inside", [".", "export"])
def test_export_into_the_run_folder_is_refused(piq_run, inside):
    training_yaml = piq_run.run_dir / "hyperparams.yaml"
    before = training_yaml.read_text()
    with pytest.raises(ValueError, match="inside the run folder"):
        export_run(piq_run.run_dir, piq_run.run_dir / inside, overwrite=True)
    assert training_yaml.read_text() == before
    assert not (piq_run.run_dir / "export").exists()


def test_bad_repo_id_is_refused_before_exporting(piq_run, tmp_path):
    with pytest.raises(ValueError, match="'bad' is not a HuggingFace repo"):
        export_run(piq_run.run_dir, tmp_path / "export", repo_id="bad")
    assert not (tmp_path / "export").exists()
    with pytest.raises(ValueError, match="owner/name"):
        push_to_hub(tmp_path, "a/b/c")


def test_failed_push_says_how_to_upload_later(tmp_path):
    offline = HubHTTPError("All connection attempts failed")
    with mock.patch("speechbrain_piq.inference.export.HfApi") as api_class:
        api_class.return_value.create_repo.side_effect = offline
        with pytest.raises(RuntimeError, match="could not upload") as raised:
            push_to_hub(tmp_path, "me/tiny-piq")
    assert f"hf upload me/tiny-piq {tmp_path}" in str(raised.value)
    assert "All connection attempts failed" in str(raised.value)


@pytest.mark.parametrize(
    "first, then", [("fid_in", "loss"), ("loss", "fid_in")]
)
def test_a_switched_best_checkpoint_metric_ranks_every_checkpoint(
    tmp_path, first, then
):
    checkpointer = Checkpointer(tmp_path)
    by_first = {"fid_in": 0.9, "loss": 2.0}
    by_then = {"fid_in": 0.1, "loss": 1.0}
    if first == "loss":
        by_first, by_then = by_then, by_first
    checkpointer.save_checkpoint(meta={**by_first, "selected_by": first})
    time.sleep(0.01)
    expected = checkpointer.save_checkpoint(
        meta={**by_then, "selected_by": then}
    )
    assert best_checkpoint(tmp_path).path == expected.path


def test_test_metrics_of_another_checkpoint_stay_off_the_card(
    piq_run, tmp_path, caplog
):
    best = best_checkpoint(piq_run.run_dir / "save").path.name
    metrics_file = piq_run.run_dir / "test_metrics.json"
    for tested, on_card in ((best, True), ("CKPT+an-earlier-one", False)):
        metrics_file.write_text(
            json.dumps({**TEST_METRICS, "checkpoint": tested})
        )
        out_dir = export_run(piq_run.run_dir, tmp_path / tested)
        card = (out_dir / "README.md").read_text()
        assert ("| fid_in | 0.8125 |" in card) == on_card
        assert (
            "checkpoint" not in card.split("## Test metrics")[1].split("##")[0]
        )
    assert "describes CKPT+an-earlier-one, not the exported" in caplog.text


def test_export_ranks_checkpoints_by_the_runs_best_checkpoint_metric(
    piq_run, tmp_path
):
    yaml = piq_run.run_dir / "hyperparams.yaml"
    yaml.write_text(yaml.read_text() + "\nbest_checkpoint_metric: loss\n")
    by_loss = best_checkpoint(piq_run.run_dir / "save", "loss")
    assert by_loss.meta["loss"] == 1.0
    out_dir = export_run(piq_run.run_dir, tmp_path / "export")
    exported = (out_dir / "psi.ckpt").read_bytes()
    assert exported == (by_loss.path / "psi.ckpt").read_bytes()
