"""A real ``train_piq.py`` run, exported and loaded back.

One tiny CPU fit (1 epoch) is shared by the tests: the exported interpreter
must reproduce the listening outputs the Brain wrote at test time, its
model card must hold the run's test metrics, and the fit must leave the
frozen classifier exactly as it was loaded.
"""

import copy
import json
import types

import pytest
import soundfile
import torch
from piq_recipe_factory import import_train_piq, make_tiny_setup, tiny_args

from speechbrain_piq.inference import PIQAudioInterpreter, export_run

train_piq = import_train_piq()

# The Brain writes original.wav and interpretation.wav as 16-bit PCM
# (soundfile's default for WAV), in steps of 2**-15 ~ 3.05e-5. Re-reading
# the original moves it by at most half a step, which reaches the
# interpretation scaled by a mask in [0, 1]; writing the interpretation
# moves it by at most about one step (libsndfile scales by 32767 on writing,
# by 32768 on reading). 1e-4, about three steps, bounds both; an interpreter
# holding the untrained PSI instead misses by ~5e-3.
WAVEFORM_ATOL = 1e-4
CLASSIFIER_PARTS = ("embedding_model", "classifier")
N_INTERPRETATIONS = 2


@pytest.fixture(scope="module")
def exported_run(tmp_path_factory):
    """Trains and evaluates a tiny interpreter, then exports it.

    The recipe's ``PIQBrain`` is wrapped to keep the Brain (and with it the
    classifier it held during the fit) and its PSI weights before training.
    """
    root, classifier_paths = make_tiny_setup(tmp_path_factory.mktemp("piq"))
    piq_brain = train_piq.PIQBrain
    recorded = {}

    def recording_brain(*args, **kwargs):
        brain = piq_brain(*args, **kwargs)
        recorded["brain"] = brain
        recorded["untrained_psi"] = copy.deepcopy(
            brain.modules.psi.state_dict()
        )
        return brain

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_piq, "PIQBrain", recording_brain)
        train_piq.main(
            tiny_args(
                root,
                classifier_paths,
                "run",
                n_interpretations=N_INTERPRETATIONS,
            )
        )
    run_dir = root / "run"
    out_dir = export_run(run_dir, root / "export")
    return types.SimpleNamespace(
        run_dir=run_dir,
        out_dir=out_dir,
        classifier_paths=classifier_paths,
        brain=recorded["brain"],
        untrained_psi=recorded["untrained_psi"],
    )


def load_exported(out_dir):
    return PIQAudioInterpreter.from_hparams(out_dir, run_opts={"device": "cpu"})


def written_test_clip_folders(run_dir):
    """The folders of the test clips the Brain wrote outputs for."""
    return sorted((run_dir / "interpretations" / "test").iterdir())


def read_wav(path):
    signal, sample_rate = soundfile.read(path, dtype="float32")
    return torch.from_numpy(signal), sample_rate


def test_exported_interpreter_reproduces_the_brains_test_interpretations(
    exported_run,
):
    interpreter = load_exported(exported_run.out_dir)
    clip_folders = written_test_clip_folders(exported_run.run_dir)
    assert len(clip_folders) == N_INTERPRETATIONS
    for folder in clip_folders:
        result = interpreter.interpret_file(folder / "original.wav")
        written, sample_rate = read_wav(folder / "interpretation.wav")
        assert result.sample_rate == sample_rate
        # Not a copy of the original: the mask attenuates the clip
        original, _ = read_wav(folder / "original.wav")
        assert written.abs().max() < 0.5 * original.abs().max()
        torch.testing.assert_close(
            result.interpretation, written, rtol=0, atol=WAVEFORM_ATOL
        )


def test_waveform_tolerance_tells_the_trained_psi_from_the_untrained_one(
    exported_run,
):
    untrained = load_exported(exported_run.out_dir)
    untrained.mods.psi.load_state_dict(exported_run.untrained_psi)
    for folder in written_test_clip_folders(exported_run.run_dir):
        result = untrained.interpret_file(folder / "original.wav")
        written, _ = read_wav(folder / "interpretation.wav")
        error = (result.interpretation - written).abs().max()
        assert error > 10 * WAVEFORM_ATOL, folder.name


def model_card_metrics(card):
    """Metric name -> value text, from the model card's test-metrics table."""
    section = card.split("## Test metrics", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert rows[:2] == ["| metric | value |", "| --- | --- |"]
    return dict(row.strip("| ").split(" | ") for row in rows[2:])


def test_exported_model_card_holds_the_runs_test_metrics(exported_run):
    with open(exported_run.run_dir / "test_metrics.json") as metrics_file:
        metrics = json.load(metrics_file)
    card = (exported_run.out_dir / "README.md").read_text()
    shown = model_card_metrics(card)
    # The tested checkpoint's name is checked by the export, not shown.
    assert metrics.pop("checkpoint").startswith("CKPT+")
    assert shown.keys() == metrics.keys()
    assert {"fid_in", "faithfulness", "accuracy", "loss"} <= set(shown)
    for name, value in metrics.items():
        if value is None:  # a metric no test clip defines
            assert shown[name] == "None", name
        else:  # four significant digits
            assert float(shown[name]) == pytest.approx(value, rel=1e-3), name


def test_fit_leaves_the_frozen_classifier_as_loaded(exported_run):
    classifier = exported_run.brain.hparams.audio_classifier
    assert not any(module.training for module in classifier.modules())
    assert not any(param.requires_grad for param in classifier.parameters())
    for part in CLASSIFIER_PARTS:
        loaded = torch.load(exported_run.classifier_paths[part])
        after_fit = getattr(classifier, part).state_dict()
        assert after_fit.keys() == loaded.keys(), part
        # BatchNorm statistics, which a forward pass in training mode moves
        assert any("running_mean" in name for name in loaded), part
        for name, tensor in loaded.items():
            assert torch.equal(after_fit[name].cpu(), tensor), f"{part}.{name}"
