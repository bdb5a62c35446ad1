"""The classifier adapters PIQ calls: outputs, freezing and checkpoints."""

import os

import huggingface_hub.constants
import pytest
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.lobes.models.ECAPA_TDNN import Classifier
from speechbrain.utils.parameter_transfer import Pretrainer
from transformers import (
    FocalNetBackbone,
    FocalNetConfig,
    ViTConfig,
    ViTModel,
)

from speechbrain_piq.classifiers import (
    ClassifierOutput,
    Conv2dAudioClassifier,
    FocalNetAudioClassifier,
    ViTAudioClassifier,
    check_num_classes,
    load_pretrained_classifier,
    save_pretrained_classifier,
)
from speechbrain_piq.classifiers.image_input import spectrogram_to_image
from speechbrain_piq.features import LogPowerSpectrogram
from speechbrain_piq.interpretation import interpret
from speechbrain_piq.lobes.models.PIQ import (
    Conv2dEncoder_v2,
    VectorQuantizedPSIViT_Audio,
)

HPARAMS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "recipes",
    "ESC50",
    "hparams",
)
# A 5 s clip at 16 kHz through LogPowerSpectrogram: 431 frames, 513 bins
T, F_BINS = 431, 513


def tiny_conv2d(n_classes=10, dim=8):
    return Conv2dAudioClassifier(
        Conv2dEncoder_v2(dim=dim),
        Classifier(input_size=dim, out_neurons=n_classes, lin_blocks=1),
    )


def tiny_vit(n_classes=10):
    config = ViTConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    return ViTAudioClassifier(
        ViTModel(config),
        Classifier(input_size=32, out_neurons=n_classes, lin_blocks=1),
    )


def tiny_focalnet(n_classes=10):
    config = FocalNetConfig(
        embed_dim=8, depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 64, 64]
    )
    return FocalNetAudioClassifier(
        FocalNetBackbone(config),
        Classifier(input_size=64, out_neurons=n_classes, lin_blocks=1),
    )


@pytest.fixture
def logpower():
    torch.manual_seed(0)
    return torch.rand(2, T, F_BINS)


@pytest.mark.parametrize(
    "build, representation_shape",
    [
        (tiny_conv2d, (2, 8, 26, 32)),
        (tiny_vit, (2, 32, 14, 14)),
        (tiny_focalnet, (2, 64, 14, 14)),
    ],
)
def test_every_backbone_gives_the_uniform_output(
    build, representation_shape, logpower
):
    model = build(n_classes=10).freeze()
    out = model(logpower)
    assert isinstance(out, ClassifierOutput)
    assert out.representation.shape == representation_shape
    assert out.embedding.shape == (2, representation_shape[1])
    assert out.logits.shape == (2, 10)
    assert model.n_classes == 10
    assert all(torch.isfinite(tensor).all() for tensor in out)


def test_conv2d_at_upstream_size_gives_a_256x26x32_map():
    model = tiny_conv2d(n_classes=50, dim=256).freeze()
    with torch.no_grad():
        out = model(torch.rand(1, T, F_BINS))
    assert out.representation.shape == (1, 256, 26, 32)
    assert out.logits.shape == (1, 50)


def test_vit_drops_the_cls_token_and_averages_all_tokens(logpower):
    model = tiny_vit().freeze()
    out = model(logpower)
    image = spectrogram_to_image(logpower, 224)
    tokens = model.embedding_model(image).last_hidden_state
    # Patch (row 0, column 1) is token 2: token 0 is CLS
    torch.testing.assert_close(out.representation[:, :, 0, 1], tokens[:, 2])
    torch.testing.assert_close(out.representation[:, :, 13, 13], tokens[:, -1])
    torch.testing.assert_close(out.embedding, tokens.mean(dim=1))


def test_focalnet_upsamples_the_last_stage_map_twice_bilinearly(logpower):
    model = tiny_focalnet().freeze()
    out = model(logpower)
    image = spectrogram_to_image(logpower, 224)
    feature_map = model.embedding_model(image).feature_maps[-1]
    assert feature_map.shape[-2:] == (7, 7)
    assert out.representation.shape[-2:] == (14, 14)
    # Upstream's torchvision.transforms.functional.resize of a tensor to
    # twice the size: bilinear, corners not aligned (antialiasing changes
    # nothing when enlarging).
    upstream_resize = torch.nn.functional.interpolate(
        feature_map, size=(14, 14), mode="bilinear", antialias=True
    )
    torch.testing.assert_close(out.representation, upstream_resize)
    torch.testing.assert_close(out.embedding, feature_map.mean(dim=(-1, -2)))


def test_image_input_matches_a_bilinear_antialiased_resize():
    logpower = torch.rand(1, T, F_BINS)
    image = spectrogram_to_image(logpower, 224)
    assert image.shape == (1, 3, 224, 224)
    assert torch.equal(image[:, 0], image[:, 2])
    # A constant spectrogram stays constant
    flat = spectrogram_to_image(torch.full((1, T, F_BINS), 2.5), 224)
    torch.testing.assert_close(flat, torch.full_like(flat, 2.5))


def test_input_that_is_not_a_spectrogram_batch_is_a_clear_error():
    with pytest.raises(
        ValueError, match=r"\[batch, time, freq\].*\(431, 513\)"
    ):
        tiny_conv2d()(torch.rand(T, F_BINS))


@pytest.mark.parametrize("build", [tiny_conv2d, tiny_vit, tiny_focalnet])
def test_frozen_classifier_stays_in_eval_and_passes_gradients_to_input(
    build, logpower
):
    model = build().freeze()
    # Every backbone has BatchNorm (at least in the ECAPA head): its running
    # statistics would move with a forward pass in training mode.
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    assert any("running_mean" in name for name in buffers)
    # A Brain calls .train() on its modules at every training epoch
    model.train()
    assert not model.training
    assert not any(module.training for module in model.modules())
    assert not any(param.requires_grad for param in model.parameters())
    masked = logpower.clone().requires_grad_(True)
    out = model(masked)
    out.logits.sum().backward()
    assert masked.grad is not None and masked.grad.abs().sum() > 0
    for name, buffer in model.named_buffers():
        assert torch.equal(buffer, buffers[name]), name
    # No dropout or drop-path either (FocalNet's default drop_path_rate is 0.1)
    torch.testing.assert_close(model(logpower).logits, model(logpower).logits)


def test_unfrozen_classifier_trains_normally():
    model = tiny_conv2d().train()
    assert model.training and model.embedding_model.bn1.training
    assert all(param.requires_grad for param in model.parameters())


def test_class_count_mismatch_with_hparams_is_a_clear_error():
    check_num_classes(tiny_conv2d(n_classes=10), 10)
    with pytest.raises(
        ValueError,
        match="classifier has 10 outputs but hparams say out_n_neurons: 50",
    ):
        check_num_classes(tiny_conv2d(n_classes=10), 50)


def pretrainer_for(model, folder, collect_in=None):
    return Pretrainer(
        collect_in=collect_in,
        loadables={
            "embedding_model": model.embedding_model,
            "classifier": model.classifier,
        },
        paths={
            "embedding_model": os.path.join(folder, "embedding_model.ckpt"),
            "classifier": os.path.join(folder, "classifier.ckpt"),
        },
    )


@pytest.mark.parametrize("build", [tiny_conv2d, tiny_vit, tiny_focalnet])
def test_pretrainer_round_trip_from_a_local_folder(build, tmp_path, logpower):
    torch.manual_seed(1)
    trained = build(n_classes=5).freeze()
    folder = str(tmp_path / "pretrained")
    paths = save_pretrained_classifier(trained, folder)
    assert sorted(os.listdir(folder)) == [
        "classifier.ckpt",
        "embedding_model.ckpt",
    ]
    # Plain state_dicts, as upstream's Pretrainer files
    state_dict = torch.load(paths["classifier"])
    assert state_dict["weight"].shape[0] == 5

    torch.manual_seed(2)
    fresh = build(n_classes=5)
    pretrainer = pretrainer_for(fresh, folder, str(tmp_path / "collect"))
    load_pretrained_classifier(pretrainer, fresh, out_n_neurons=5)
    fresh.freeze()
    expected = trained(logpower)
    for name, tensor in fresh(logpower)._asdict().items():
        torch.testing.assert_close(tensor, getattr(expected, name))


def test_checkpoint_with_other_class_count_is_a_clear_error(tmp_path):
    folder = str(tmp_path / "esc10")
    save_pretrained_classifier(tiny_conv2d(n_classes=10), folder)
    model = tiny_conv2d(n_classes=50)
    with pytest.raises(
        ValueError,
        match=r"classifier has 10 outputs \(.*classifier.ckpt\) but hparams "
        r"say out_n_neurons: 50",
    ):
        load_pretrained_classifier(
            pretrainer_for(model, folder), model, out_n_neurons=50
        )


def test_checkpoint_of_another_architecture_is_a_clear_error(tmp_path):
    folder = str(tmp_path / "dim8")
    save_pretrained_classifier(tiny_conv2d(dim=8), folder)
    model = tiny_conv2d(dim=16)
    with pytest.raises(
        ValueError,
        match="embedding_model.ckpt does not fit the embedding_model",
    ):
        load_pretrained_classifier(
            pretrainer_for(model, folder), model, out_n_neurons=10
        )


def test_missing_local_checkpoint_says_how_to_get_one(tmp_path):
    model = tiny_conv2d()
    folder = str(tmp_path / "nothing_here")
    os.makedirs(folder)
    with pytest.raises(
        FileNotFoundError, match="nothing_here.*train_classifier"
    ):
        load_pretrained_classifier(
            pretrainer_for(model, folder, str(tmp_path / "collect")),
            model,
            out_n_neurons=10,
        )


def test_offline_hub_path_says_how_to_point_at_a_local_checkpoint(
    tmp_path, monkeypatch
):
    # huggingface_hub reads HF_HUB_OFFLINE at import: patch the constant too
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(
        huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf")
    )
    model = tiny_conv2d(n_classes=50)
    pretrainer = Pretrainer(
        collect_in=str(tmp_path / "collect"),
        loadables={
            "embedding_model": model.embedding_model,
            "classifier": model.classifier,
        },
        paths={
            "embedding_model": "speechbrain/PIQ-ESC50/embedding_modelft.ckpt",
            "classifier": "speechbrain/PIQ-ESC50/classifier.ckpt",
        },
    )
    with pytest.raises(FileNotFoundError) as error:
        load_pretrained_classifier(pretrainer, model, out_n_neurons=50)
    message = str(error.value)
    assert "speechbrain/PIQ-ESC50" in message
    assert "--embedding_model_path=" in message
    assert "--classifier_model_path=" in message
    assert "recipes/ESC50/train_classifier.py" in message


def load_yaml_with_tiny_backbone(name, backbone_yaml, embedding_dim, tmp_path):
    """Loads a classifier YAML, swapping the hub backbone for a tiny one."""
    with open(os.path.join(HPARAMS, name), encoding="utf-8") as yaml_file:
        text = yaml_file.read()
    start = text.index("embedding_model: ")
    end = text.index("classifier: ", start)
    text = text[:start] + backbone_yaml + text[end:]
    overrides = {
        "data_folder": str(tmp_path),
        "output_folder": str(tmp_path / "out"),
        "embedding_dim": embedding_dim,
        "subset": "esc10",
    }
    return load_hyperpyyaml(text, overrides)


@pytest.mark.parametrize(
    "name, backbone_yaml, embedding_dim, adapter, side",
    [
        (
            "conv2d_classifier.yaml",
            "embedding_model: !new:speechbrain_piq.lobes.models.PIQ."
            "Conv2dEncoder_v2\n    dim: 8\n",
            8,
            Conv2dAudioClassifier,
            (26, 32),
        ),
        (
            "vit_classifier.yaml",
            "embedding_model: !new:transformers.ViTModel\n"
            "    config: !new:transformers.ViTConfig\n"
            "        hidden_size: 32\n        num_hidden_layers: 1\n"
            "        num_attention_heads: 2\n        intermediate_size: 64\n",
            32,
            ViTAudioClassifier,
            (14, 14),
        ),
        (
            "focalnet_classifier.yaml",
            "embedding_model: !new:transformers.FocalNetBackbone\n"
            "    config: !new:transformers.FocalNetConfig\n"
            "        embed_dim: 8\n        depths: [1, 1, 1, 1]\n"
            "        hidden_sizes: [16, 32, 64, 64]\n",
            64,
            FocalNetAudioClassifier,
            (14, 14),
        ),
    ],
    ids=["conv2d", "vit", "focalnet"],
)
def test_recipe_yaml_builds_its_adapter(
    name, backbone_yaml, embedding_dim, adapter, side, tmp_path
):
    hparams = load_yaml_with_tiny_backbone(
        name, backbone_yaml, embedding_dim, tmp_path
    )
    assert hparams["out_n_neurons"] == 10
    model = hparams["audio_classifier"]
    assert isinstance(model, adapter)
    assert model.embedding_model is hparams["embedding_model"]
    assert model.classifier is hparams["classifier"]
    wavs = 0.1 * torch.randn(2, 80000)
    logpower, _ = hparams["compute_features"](wavs)
    out = model.freeze()(logpower)
    assert out.representation.shape == (2, embedding_dim, *side)
    assert out.logits.shape == (2, 10)
    assert torch.isfinite(out.logits).all()


@pytest.mark.parametrize("seconds", [2, 5, 8])
def test_image_backbone_masks_cover_clips_of_any_length(seconds):
    # The ViT sees any clip squashed into one 224x224 image and PSI's
    # decoder always emits a 5 s clip's 431 x 513 map: for other lengths
    # the map is stretched over the whole clip, not cropped to its start.
    torch.manual_seed(0)
    features = LogPowerSpectrogram()
    classifier = tiny_vit(3).freeze()
    psi = VectorQuantizedPSIViT_Audio(dim=32, K=6, numclasses=3).eval()
    wavs = torch.randn(1, seconds * 16000)
    with torch.no_grad():
        found = interpret(features, classifier, psi, wavs)
        logpower, _ = features(wavs)
        decoded, _, _ = psi(
            classifier(logpower).representation, found.predicted_class
        )
    assert decoded.shape[2:] == (431, 513)
    assert found.mask.shape == found.logpower.shape == logpower.shape
    expected = torch.nn.functional.interpolate(
        decoded, size=logpower.shape[1:], mode="bilinear"
    )[:, 0]
    torch.testing.assert_close(found.mask_logits, expected)


def test_a_changed_checkpoint_path_loads_the_new_classifier(tmp_path):
    # SpeechBrain keeps an existing link in collect_in: a rerun pointing at
    # another classifier must not load the old one through it.
    collect = str(tmp_path / "collect")
    first, second = tiny_conv2d(n_classes=3), tiny_conv2d(n_classes=3)
    for index, model in enumerate((first, second)):
        save_pretrained_classifier(model, str(tmp_path / f"clf{index}"))
    for index, model in enumerate((first, second)):
        loaded = tiny_conv2d(n_classes=3)
        pretrainer = pretrainer_for(
            loaded, str(tmp_path / f"clf{index}"), collect
        )
        load_pretrained_classifier(pretrainer, loaded, out_n_neurons=3)
        for got, want in zip(
            loaded.state_dict().values(), model.state_dict().values()
        ):
            assert torch.equal(got, want)
