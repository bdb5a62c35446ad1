"""PIQAudioInterpreter: local folders, the hub cache, upstream's layout,
batches of mixed lengths and bad input."""

import shutil

import huggingface_hub
import pytest
import soundfile
import torch
import torchaudio
from offline_hub import offline_hub_cache
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.inference.interpretability import (
    PIQAudioInterpreter as UpstreamPIQAudioInterpreter,
)
from speechbrain.lobes.models.ECAPA_TDNN import Classifier
from speechbrain.lobes.models.PIQ import (
    Conv2dEncoder_v2 as UpstreamConv2dEncoder,
)
from speechbrain.lobes.models.PIQ import (
    VectorQuantizedPSI_Audio as UpstreamPSI,
)
from test_export import CLASSES, SAMPLE_RATE, make_piq_run, write_clip

from speechbrain_piq.inference import PIQAudioInterpreter
from speechbrain_piq.inference.export import export_run
from speechbrain_piq.interpretation import interpret, spectrogram_to_waveform

CPU = {"device": "cpu"}
REPO_ID = "piq-tests/tiny-piq"

# A hub folder in upstream's PIQ-ESC50 layout, with tiny dimensions.
UPSTREAM_YAML = """\
pretrained_path: speechbrain/PIQ-ESC50
sample_rate: 16000
spec_mag_power: 0.5
use_vq: True
use_mask_output: True
mask_th: 0.35
emb_dim: 8
n_classes: 3

compute_stft: !new:speechbrain.processing.features.STFT
    n_fft: 1024
    hop_length: 11.6099
    win_length: 23.2199
    sample_rate: !ref <sample_rate>
compute_istft: !new:speechbrain.processing.features.ISTFT
    sample_rate: !ref <sample_rate>
    n_fft: 1024
    hop_length: 11.6099
    win_length: 23.2199
embedding_model: !new:speechbrain.lobes.models.PIQ.Conv2dEncoder_v2
    dim: !ref <emb_dim>
classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: !ref <emb_dim>
    out_neurons: !ref <n_classes>
    lin_blocks: 1
psi: !new:speechbrain.lobes.models.PIQ.VectorQuantizedPSI_Audio
    dim: !ref <emb_dim>
    K: 12
    numclasses: !ref <n_classes>
    activate_class_partitioning: True
    shared_keys: 0
    use_adapter: True
    adapter_reduce_dim: True
label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

modules:
    compute_stft: !ref <compute_stft>
    compute_istft: !ref <compute_istft>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>
    psi: !ref <psi>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
        psi: !ref <psi>
        label_encoder: !ref <label_encoder>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        classifier: !ref <pretrained_path>/classifier.ckpt
        psi: !ref <pretrained_path>/psi.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny run and its export, shared by the tests of this module."""
    root = tmp_path_factory.mktemp("piq")
    run = make_piq_run(root)
    return run, export_run(run.run_dir, root / "export")


@pytest.fixture(scope="module")
def interpreter(exported):
    return PIQAudioInterpreter.from_hparams(exported[1], run_opts=CPU)


def training_interpretation(run, wav):
    """What the training code computes for ``wav`` ([1, time])."""
    hparams = run.hparams
    modules = [hparams[name] for name in ("audio_classifier", "psi")]
    for module in modules:
        module.eval()
    with torch.no_grad():
        found = interpret(
            hparams["compute_features"],
            hparams["audio_classifier"],
            hparams["psi"],
            wav,
        )
        waveform = spectrogram_to_waveform(
            found.mask * found.logpower, found.stft, hparams["compute_istft"]
        )
    return found, waveform


def assert_same_result(result, other, atol=1e-5):
    assert result.label == other.label
    assert result.class_index == other.class_index
    assert result.probability == pytest.approx(other.probability, abs=atol)
    assert torch.allclose(result.mask, other.mask, atol=atol)
    assert torch.allclose(
        result.interpretation, other.interpretation, atol=atol
    )


def test_local_folder_interprets_as_training_does(
    exported, interpreter, tmp_path
):
    run, _ = exported
    signal = write_clip(tmp_path / "clip.wav", seconds=1.0)
    result = interpreter.interpret_file(tmp_path / "clip.wav")

    found, waveform = training_interpretation(run, signal.T)
    class_index = int(found.predicted_class)
    assert result.class_index == class_index
    assert result.label == CLASSES[class_index]
    probabilities = found.logits.softmax(dim=-1)[0]
    assert result.probability == pytest.approx(
        float(probabilities[class_index])
    )
    assert result.sample_rate == SAMPLE_RATE
    assert torch.allclose(result.mask, found.mask[0], atol=1e-6)
    assert torch.allclose(result.logpower, found.logpower[0], atol=1e-6)
    assert torch.allclose(result.interpretation, waveform[0], atol=1e-6)


def test_batch_of_mixed_lengths_equals_each_clip_alone(interpreter):
    torch.manual_seed(1)
    lengths = [16000, 9600, 16000, 12000]
    clips = [torch.randn(length) for length in lengths]
    padded = torch.zeros(len(clips), max(lengths))
    for index, clip in enumerate(clips):
        padded[index, : clip.shape[0]] = clip
    wav_lens = torch.tensor(lengths) / max(lengths)

    results = interpreter.interpret_batch(padded, wav_lens)

    assert len(results) == len(clips)
    for clip, result in zip(clips, results):
        alone = interpreter.interpret_batch(clip.unsqueeze(0))[0]
        assert_same_result(result, alone)
    assert results[1].mask.shape[0] < results[0].mask.shape[0]


def test_any_rate_and_channel_count_is_resampled_and_downmixed(
    interpreter, tmp_path
):
    stereo = write_clip(tmp_path / "stereo.wav", 0.8, 44100, channels=2)
    result = interpreter.interpret_file(tmp_path / "stereo.wav")

    mono = stereo.mean(dim=1)
    resampled = torchaudio.functional.resample(mono, 44100, SAMPLE_RATE)
    peak_normalised = resampled / resampled.abs().max()
    assert_same_result(
        result, interpreter.interpret_batch(peak_normalised.unsqueeze(0))[0]
    )
    assert_same_result(
        interpreter.interpret_batch(mono.unsqueeze(0), sample_rate=44100)[0],
        interpreter.interpret_batch(resampled.unsqueeze(0))[0],
    )
    assert result.sample_rate == SAMPLE_RATE
    # 0.8 s at 16 kHz: 69 STFT frames, of which the decoder covers 65.
    assert result.mask.shape == result.logpower.shape == (65, 513)


def test_result_saves_wav_and_png(interpreter, tmp_path):
    write_clip(tmp_path / "clip.wav")
    result = interpreter.interpret_file(tmp_path / "clip.wav")
    paths = result.save(tmp_path / "out")
    audio, rate = soundfile.read(paths["wav"], dtype="float32")
    assert rate == SAMPLE_RATE
    assert torch.allclose(torch.from_numpy(audio), result.interpretation)
    assert (tmp_path / "out" / "interpretation.png").stat().st_size > 0


def test_repo_id_loads_from_the_offline_hub_cache(
    exported, interpreter, tmp_path, monkeypatch
):
    offline_hub_cache(monkeypatch, tmp_path, exported[1], REPO_ID)
    downloads = []
    download = huggingface_hub.hf_hub_download

    def recording_download(*args, **kwargs):
        downloads.append(kwargs["filename"])
        return download(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", recording_download)

    from_hub = PIQAudioInterpreter.from_hparams(
        REPO_ID, savedir=tmp_path / "pretrained", run_opts=CPU
    )

    assert {"hyperparams.yaml", "psi.ckpt", "label_encoder.txt"} <= set(
        downloads
    )
    clip = torch.randn(1, 16000, generator=torch.Generator().manual_seed(2))
    assert_same_result(
        from_hub.interpret_batch(clip)[0], interpreter.interpret_batch(clip)[0]
    )


def write_upstream_folder(folder):
    """Upstream's own modules, saved as their hub layout does."""
    torch.manual_seed(3)
    folder.mkdir()
    modules = {
        "embedding_model": UpstreamConv2dEncoder(dim=8),
        "classifier": Classifier(input_size=8, out_neurons=3, lin_blocks=1),
        "psi": UpstreamPSI(dim=8, K=12, numclasses=3),
    }
    for name, module in modules.items():
        torch.save(module.state_dict(), folder / f"{name}.ckpt")
    encoder = CategoricalEncoder()
    encoder.update_from_iterable(CLASSES)
    encoder.save(folder / "label_encoder.txt")
    (folder / "hyperparams.yaml").write_text(UPSTREAM_YAML)


def test_upstream_layout_loads_and_matches_upstream(tmp_path):
    folder = tmp_path / "PIQ-ESC50"
    write_upstream_folder(folder)
    ours = PIQAudioInterpreter.from_hparams(folder, run_opts=CPU)
    theirs = UpstreamPIQAudioInterpreter.from_hparams(
        str(folder),
        overrides={"pretrained_path": str(folder)},
        run_opts=CPU,
    )
    wav = torch.randn(1, 16000, generator=torch.Generator().manual_seed(4))

    result = ours.interpret_batch(wav)[0]
    waveform, labels = theirs.interpret_batch(wav)

    assert labels[0][0] == result.label
    assert torch.allclose(result.interpretation, waveform[0], atol=1e-5)


def test_bad_input_gets_one_clear_error(interpreter, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such audio file"):
        interpreter.interpret_file(tmp_path / "missing.wav")
    (tmp_path / "notes.wav").write_text("not audio at all")
    with pytest.raises(ValueError, match="notes.wav is not readable audio"):
        interpreter.interpret_file(tmp_path / "notes.wav")
    soundfile.write(tmp_path / "empty.wav", torch.zeros(0).numpy(), 16000)
    with pytest.raises(ValueError, match="empty.wav holds no audio samples"):
        interpreter.interpret_file(tmp_path / "empty.wav")
    write_clip(tmp_path / "blip.wav", seconds=0.05)
    with pytest.raises(ValueError, match="blip.wav: .* too short"):
        interpreter.interpret_file(tmp_path / "blip.wav")
    with pytest.raises(ValueError, match="clip 1 has NaN"):
        interpreter.interpret_batch(
            torch.tensor([[0.1] * 8000, [float("nan")] * 8000])
        )
    with pytest.raises(ValueError, match=r"wav_lens must lie in \(0, 1\]"):
        interpreter.interpret_batch(torch.ones(2, 8000), torch.tensor([1, 0]))


def test_bad_sources_get_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no hyperparams.yaml"):
        PIQAudioInterpreter.from_hparams(tmp_path, run_opts=CPU)
    with pytest.raises(FileNotFoundError, match="neither a folder nor"):
        PIQAudioInterpreter.from_hparams(tmp_path / "missing", run_opts=CPU)


def test_label_encoder_must_match_the_classifier(exported, tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(exported[1], folder)
    encoder = CategoricalEncoder()
    encoder.update_from_iterable(["dog", "rain"])
    encoder.save(folder / "label_encoder.txt")
    with pytest.raises(ValueError, match="3 outputs but the label encoder"):
        PIQAudioInterpreter.from_hparams(folder, run_opts=CPU)


def test_checkpoint_that_does_not_fit_is_a_clear_error(exported, tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(exported[1], folder)
    other_psi = exported[0].hparams["psi"].__class__(dim=8, K=6, numclasses=3)
    torch.save(other_psi.state_dict(), folder / "psi.ckpt")
    with pytest.raises(ValueError, match="psi.ckpt does not fit the Vector"):
        PIQAudioInterpreter.from_hparams(folder, run_opts=CPU)


def test_logit_scale_calibrates_the_probability(exported, tmp_path):
    run, folder = exported
    scaled = tmp_path / "export"
    shutil.copytree(folder, scaled)
    with open(scaled / "hyperparams.yaml", "a") as stream:
        stream.write("logit_scale: 30\n")
    interpreter = PIQAudioInterpreter.from_hparams(scaled, run_opts=CPU)
    wav = torch.randn(1, 16000, generator=torch.Generator().manual_seed(5))

    result = interpreter.interpret_batch(wav)[0]

    found, _ = training_interpretation(run, wav)
    expected = (30 * found.logits).softmax(dim=-1)[0, result.class_index]
    assert result.probability == pytest.approx(float(expected), abs=1e-5)


def test_cpu_default_is_channels_last_with_the_same_results(
    exported, interpreter, tmp_path
):
    def conv_weights(loaded):
        return [
            module.weight
            for name in ("psi", "audio_classifier")
            for module in loaded.mods[name].modules()
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
        ]

    contiguous = PIQAudioInterpreter.from_hparams(
        exported[1], run_opts=CPU, channels_last=False
    )
    assert all(
        weight.is_contiguous(memory_format=torch.channels_last)
        for weight in conv_weights(interpreter)
    )
    assert all(weight.is_contiguous() for weight in conv_weights(contiguous))
    write_clip(tmp_path / "clip.wav", seconds=1.0)
    assert_same_result(
        interpreter.interpret_file(tmp_path / "clip.wav"),
        contiguous.interpret_file(tmp_path / "clip.wav"),
    )


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def without_pretrainer(path):
    path.write_text(path.read_text().split("\nmodules:")[0])


DAMAGED_FOLDERS = {
    "truncated psi.ckpt": (
        lambda folder: truncate(folder / "psi.ckpt"),
        ValueError,
        r"psi.ckpt .*truncated or damaged",
    ),
    "truncated classifier.ckpt": (
        lambda folder: truncate(folder / "classifier.ckpt"),
        ValueError,
        r"classifier.ckpt .*truncated or damaged",
    ),
    "empty psi.ckpt": (
        lambda folder: (folder / "psi.ckpt").write_bytes(b""),
        ValueError,
        r"psi.ckpt .*truncated or damaged",
    ),
    "garbage psi.ckpt": (
        lambda folder: (folder / "psi.ckpt").write_bytes(b"hello"),
        ValueError,
        r"psi.ckpt .*truncated or damaged",
    ),
    "pickled module": (
        lambda folder: torch.save(torch.nn.Linear(2, 2), folder / "psi.ckpt"),
        ValueError,
        r"psi.ckpt .*not a state_dict",
    ),
    "missing psi.ckpt": (
        lambda folder: (folder / "psi.ckpt").unlink(),
        FileNotFoundError,
        r"psi.ckpt is missing",
    ),
    "empty label_encoder.txt": (
        lambda folder: (folder / "label_encoder.txt").write_text(""),
        ValueError,
        r"label_encoder.txt .*truncated or damaged",
    ),
    "garbage label_encoder.txt": (
        lambda folder: (folder / "label_encoder.txt").write_text("blah\n"),
        ValueError,
        r"label_encoder.txt .*truncated or damaged",
    ),
    "missing label_encoder.txt": (
        lambda folder: (folder / "label_encoder.txt").unlink(),
        FileNotFoundError,
        r"label_encoder.txt is missing",
    ),
    "empty yaml": (
        lambda folder: (folder / "hyperparams.yaml").write_text(""),
        ValueError,
        r"hyperparams.yaml holds no hyperparameters",
    ),
    "broken yaml": (
        lambda folder: (folder / "hyperparams.yaml").write_text("a: [\n"),
        ValueError,
        r"hyperparams.yaml is not readable YAML .*truncated or damaged",
    ),
    "yaml without pretrainer": (
        lambda folder: without_pretrainer(folder / "hyperparams.yaml"),
        ValueError,
        r"hyperparams.yaml has no modules or pretrainer entry",
    ),
}


@pytest.mark.parametrize("damage", DAMAGED_FOLDERS)
def test_damaged_folder_error_names_the_file(exported, tmp_path, damage):
    folder = tmp_path / "export"
    shutil.copytree(exported[1], folder)
    spoil, error, message = DAMAGED_FOLDERS[damage]
    spoil(folder)
    with pytest.raises(error, match=message):
        PIQAudioInterpreter.from_hparams(folder, run_opts=CPU)


@pytest.mark.parametrize(
    ("spoil", "error", "message"),
    [
        (lambda path: path.unlink(), FileNotFoundError, "is missing"),
        (lambda path: path.write_text("blah\n"), ValueError, "lists no class"),
        (lambda path: path.write_text(""), ValueError, "could not be read"),
    ],
)
def test_upstream_layout_names_its_unreadable_label_encoder(
    tmp_path, spoil, error, message
):
    # Upstream's yaml loads the encoder with SpeechBrain's hook, which
    # leaves it empty when the file is missing or unreadable.
    folder = tmp_path / "PIQ-ESC50"
    write_upstream_folder(folder)
    spoil(folder / "label_encoder.txt")
    with pytest.raises(error, match=f"label_encoder.txt {message}"):
        PIQAudioInterpreter.from_hparams(folder, run_opts=CPU)


def test_input_that_requires_grad_is_interpreted(interpreter):
    wav = torch.randn(1, 16000, generator=torch.Generator().manual_seed(6))
    result = interpreter.interpret_batch(wav.clone().requires_grad_())[0]
    assert_same_result(result, interpreter.interpret_batch(wav)[0])
    assert not result.interpretation.requires_grad


@pytest.mark.parametrize("sample_rate", [0, -1, 22050.5, "16000", True])
def test_sample_rate_must_be_a_positive_int(interpreter, sample_rate):
    with pytest.raises(ValueError, match="sample_rate must be a positive int"):
        interpreter.interpret_batch(
            torch.randn(1, 16000), sample_rate=sample_rate
        )


def test_only_short_clips_are_called_too_short(interpreter, monkeypatch):
    def failing_interpret(*args):
        raise RuntimeError("Input type (double) and bias type (float) differ")

    monkeypatch.setattr(
        "speechbrain_piq.inference.interpreter.interpret", failing_interpret
    )
    with pytest.raises(RuntimeError, match="bias type") as raised:
        interpreter.interpret_batch(torch.randn(1, 16000))
    assert "too short" not in str(raised.value)
