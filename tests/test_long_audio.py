"""Clips longer than the training clips: windows, bounded batches, one
full-length mask and interpretation."""

import shutil

import pytest
import torch
from test_export import make_piq_run, write_clip
from test_inference import assert_same_result, training_interpretation

from speechbrain_piq.inference import PIQAudioInterpreter
from speechbrain_piq.inference.export import export_run
from speechbrain_piq.inference.windows import window_starts
from speechbrain_piq.interpretation import interpret

CPU = {"device": "cpu"}
WINDOW_BATCH_SIZE = 2


@pytest.fixture(scope="module")
def run_and_interpreter(tmp_path_factory):
    """A tiny run, exported with 1 s training clips."""
    root = tmp_path_factory.mktemp("long_audio")
    run = make_piq_run(root)
    folder = export_run(run.run_dir, root / "export")
    with open(folder / "hyperparams.yaml", "a") as stream:
        stream.write(
            f"clip_seconds: 1.0\nwindow_batch_size: {WINDOW_BATCH_SIZE}\n"
        )
    for name in ("audio_classifier", "psi"):
        run.hparams[name].eval()
    return run, PIQAudioInterpreter.from_hparams(folder, run_opts=CPU)


@torch.no_grad()
def window_interpretation(run, window, target=None):
    """What the training code computes for one ``[samples]`` window."""
    return interpret(
        run.hparams["compute_features"],
        run.hparams["audio_classifier"],
        run.hparams["psi"],
        window.unsqueeze(0),
        target=target,
    )


def count_psi_batches(interpreter):
    """Records the batch size of every PSI pass (a list, filled later)."""
    sizes = []
    hook = interpreter.mods.psi.register_forward_hook(
        lambda module, inputs, output: sizes.append(inputs[0].shape[0])
    )
    return sizes, hook


def test_training_length_clip_is_unchanged(run_and_interpreter):
    run, interpreter = run_and_interpreter
    assert interpreter.window_samples == 16000
    wav = torch.randn(1, 16000, generator=torch.Generator().manual_seed(6))
    sizes, hook = count_psi_batches(interpreter)
    try:
        result = interpreter.interpret_batch(wav)[0]
    finally:
        hook.remove()
    assert sizes == [1]
    found, waveform = training_interpretation(run, wav)
    assert result.class_index == int(found.predicted_class)
    assert torch.allclose(result.mask, found.mask[0], atol=1e-6)
    assert torch.allclose(result.interpretation, waveform[0], atol=1e-6)


def test_long_clip_in_bounded_windows_gives_full_length_outputs(
    run_and_interpreter,
):
    run, interpreter = run_and_interpreter
    n_samples = 16000 * 7 + 1234
    clip = torch.randn(n_samples, generator=torch.Generator().manual_seed(7))
    sizes, hook = count_psi_batches(interpreter)
    try:
        result = interpreter.interpret_batch(clip.unsqueeze(0))[0]
    finally:
        hook.remove()

    frame_hop = interpreter.mods.compute_features.compute_stft.hop_length
    starts = window_starts(n_samples, 16000, frame_hop)
    # Half-overlapping windows: about two per training clip length.
    assert len(starts) <= 2 * n_samples / 16000 + 1
    assert sum(sizes) == len(starts)
    assert max(sizes) <= WINDOW_BATCH_SIZE

    first = window_interpretation(run, clip[:16000])
    window_frames = first.mask.shape[1]
    frames, bins = result.mask.shape
    # The mask reaches the last window's last masked frame, as far into
    # the clip's end as a training-length clip's does into its own.
    assert frames == starts[-1] // frame_hop + window_frames
    whole_logpower, _ = run.hparams["compute_features"](clip.unsqueeze(0))
    assert torch.allclose(
        result.logpower, whole_logpower[0, :frames, :bins], atol=1e-5
    )
    assert bins == first.mask.shape[2]
    assert 0 <= float(result.mask.min()) and float(result.mask.max()) <= 1
    # One waveform over the frames the mask covers.
    assert abs(result.interpretation.shape[0] - (frames - 1) * frame_hop) <= 1
    # Its end is short of the clip's by what a training clip's is, at most
    # one STFT hop more.
    training_clip_tail = 16000 - (window_frames - 1) * frame_hop
    tail = n_samples - result.interpretation.shape[0]
    assert tail <= training_clip_tail + frame_hop

    # Where only the first window's mask reaches, the mask is its own.
    alone = window_interpretation(
        run, clip[:16000], target=torch.tensor([result.class_index])
    )
    only_first = starts[1] // frame_hop
    assert torch.allclose(
        result.mask[:only_first], alone.mask[0, :only_first], atol=1e-5
    )


def test_long_file_is_interpreted_whole(run_and_interpreter, tmp_path):
    _, interpreter = run_and_interpreter
    write_clip(tmp_path / "long.wav", seconds=3.5)
    result = interpreter.interpret_file(tmp_path / "long.wav")
    again = interpreter.interpret_batch(
        interpreter.read_clip(tmp_path / "long.wav").unsqueeze(0)
    )[0]
    assert_same_result(result, again)
    assert result.interpretation.shape[0] > 3 * 16000
    paths = result.save(tmp_path / "out")
    assert (tmp_path / "out" / "interpretation.png").stat().st_size > 0
    assert paths["wav"].endswith("interpretation.wav")


def test_clip_seconds_defaults_to_five(run_and_interpreter, tmp_path):
    run, _ = run_and_interpreter
    folder = tmp_path / "export"
    shutil.copytree(run.run_dir.parent / "export", folder)  # the fixture's
    text = (folder / "hyperparams.yaml").read_text()
    (folder / "hyperparams.yaml").write_text(
        text.replace("clip_seconds: 1.0\n", "")
    )
    interpreter = PIQAudioInterpreter.from_hparams(folder, run_opts=CPU)
    assert interpreter.window_samples == 5 * 16000
