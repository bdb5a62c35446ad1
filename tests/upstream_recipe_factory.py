"""Writes hparams files in the key layout of SpeechBrain's own PIQ recipe
(``recipes/ESC50/interpret/hparams``), for tiny CPU runs of ``train_piq.py``.

The files are written here, entry by entry, with upstream's names
(``pretrained_esc50``, ``psi_model``, ``*_annotation``, ``*_fold_nums``,
``audio_data_folder``, ``compute_stft``...) and tiny model sizes; they are
not copies of upstream's files.
"""

import torch
from piq_recipe_factory import N_CLASSES
from speechbrain.lobes.models.ECAPA_TDNN import Classifier
from transformers import FocalNetBackbone, FocalNetConfig, ViTConfig, ViTModel

from speechbrain_piq.classifiers import (
    Conv2dAudioClassifier,
    FocalNetAudioClassifier,
    ViTAudioClassifier,
)
from speechbrain_piq.classifiers.pretrained import save_pretrained_classifier
from speechbrain_piq.lobes.models.PIQ import Conv2dEncoder_v2

# PSI keys: 2 per class of the lobe's default 50-class partition, which
# upstream's files keep (their psi_model gives no numclasses).
K = 100

HEAD = """\
seed: 1234
__set_seed: !apply:speechbrain.utils.seed_everything [!ref <seed>]
data_folder: !PLACEHOLDER
audio_data_folder: !ref <data_folder>/audio
experiment_name: piq
output_folder: !ref ./results/<experiment_name>/<seed>
save_folder: !ref <output_folder>/save
train_log: !ref <output_folder>/train_log.txt
save_interpretations: False
interpret_period: 10
use_tensorboard: False
tensorboard_logs_folder: !ref <output_folder>/tb_logs/
train_annotation: !ref <data_folder>/manifest/train.json
valid_annotation: !ref <data_folder>/manifest/valid.json
test_annotation: !ref <data_folder>/manifest/test.json
train_fold_nums: [1, 2, 3]
valid_fold_nums: [4]
test_fold_nums: [5]
skip_manifest_creation: False
ckpt_interval_minutes: 15
number_of_epochs: 1
batch_size: 3
lr: 0.0002
sample_rate: 16000
use_vq: True
rec_loss_coef: 1
use_mask_output: True
mask_th: 0.35
use_melspectra_log1p: False
n_mels: 80
out_n_neurons: {n_classes}
shuffle: True
dataloader_options:
    batch_size: !ref <batch_size>
    shuffle: !ref <shuffle>
    num_workers: 0
epoch_counter: !new:speechbrain.utils.epoch_loop.EpochCounter
    limit: !ref <number_of_epochs>
opt_class: !name:torch.optim.Adam
    lr: !ref <lr>
    weight_decay: 0.000002
lr_annealing: !new:speechbrain.nnet.schedulers.ReduceLROnPlateau
    factor: 0.5
    patience: 3
    dont_halve_until_epoch: 100
train_logger: !new:speechbrain.utils.train_logger.FileTrainLogger
    save_file: !ref <train_log>
checkpointer: !new:speechbrain.utils.checkpoints.Checkpointer
    checkpoints_dir: !ref <save_folder>
    recoverables:
        psi_model: !ref <psi_model>
        counter: !ref <epoch_counter>
use_pretrained: True
"""

CLASSIFIER = """\
{embedding_model}
classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: {width}
    out_neurons: !ref <out_n_neurons>
    lin_blocks: 1
embedding_model_path: speechbrain/PIQ-ESC50/embedding_modelft.ckpt
classifier_model_path: speechbrain/PIQ-ESC50/classifier.ckpt
pretrained_esc50: !new:speechbrain.utils.parameter_transfer.Pretrainer
    collect_in: !ref <save_folder>
    loadables:
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
    paths:
        embedding_model: !ref <embedding_model_path>
        classifier: !ref <classifier_model_path>
K: {K}
n_fft: 1024
hop_length: 11.6099
win_length: 23.2199
"""

FEATURES = """\
compute_stft: !new:speechbrain.processing.features.STFT
    n_fft: !ref <n_fft>
    hop_length: !ref <hop_length>
    win_length: !ref <win_length>
    sample_rate: !ref <sample_rate>
compute_fbank: !new:speechbrain.processing.features.Filterbank
    n_mels: !ref <n_mels>
    n_fft: !ref <n_fft>
    sample_rate: !ref <sample_rate>
compute_istft: !new:speechbrain.processing.features.ISTFT
    sample_rate: !ref <sample_rate>
    hop_length: !ref <hop_length>
    win_length: !ref <win_length>
psi_model: !new:speechbrain.lobes.models.PIQ.{psi_class}
    dim: {width}
    K: !ref <K>
    shared_keys: 0
    activate_class_partitioning: True
    use_adapter: True
    adapter_reduce_dim: True
modules:
    compute_stft: !ref <compute_stft>
    compute_fbank: !ref <compute_fbank>
    compute_istft: !ref <compute_istft>
    psi: !ref <psi_model>
"""

CONV2D_WIDTH = 8


def _tiny_vit():
    config = ViTConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    return ViTModel(config), ViTAudioClassifier, config.hidden_size


def _tiny_focalnet():
    config = FocalNetConfig(
        embed_dim=2, depths=[1, 1, 1, 1], hidden_sizes=[4, 8, 16, 16]
    )
    return (
        FocalNetBackbone(config),
        FocalNetAudioClassifier,
        config.hidden_sizes[-1],
    )


# Hugging Face backbones: (builder, transformers class, PSI class).
BACKBONES = {
    "vit": (_tiny_vit, "ViTModel", "VectorQuantizedPSIViT_Audio"),
    "focalnet": (
        _tiny_focalnet,
        "FocalNetBackbone",
        "VectorQuantizedPSIFocalNet_Audio",
    ),
}


def save_tiny_classifier(backbone, folder):
    """A random tiny classifier's checkpoints in ``folder``.

    Returns ``(paths, width, embedding_model_entry)``: the ``.ckpt`` files
    by loadable, the representation's channels and the yaml entry that
    builds its backbone as upstream's files do (``from_pretrained`` for
    the Hugging Face ones, from a local folder here).
    """
    torch.manual_seed(0)
    if backbone == "conv2d":
        width = CONV2D_WIDTH
        classifier = Conv2dAudioClassifier(
            Conv2dEncoder_v2(dim=width),
            Classifier(input_size=width, out_neurons=N_CLASSES, lin_blocks=1),
        )
        entry = (
            "embedding_model: !new:speechbrain.lobes.models.PIQ."
            f"Conv2dEncoder_v2\n    dim: {width}"
        )
    else:
        build, hf_class, _ = BACKBONES[backbone]
        model, adapter, width = build()
        model.save_pretrained(folder / "backbone")
        classifier = adapter(
            model,
            Classifier(input_size=width, out_neurons=N_CLASSES, lin_blocks=1),
        )
        entry = (
            f"embedding_model: !apply:transformers.{hf_class}."
            f"from_pretrained [{folder / 'backbone'}]"
        )
    paths = save_pretrained_classifier(classifier, str(folder / "classifier"))
    return paths, width, entry


def write_upstream_layout(path, backbone, classifier, n_classes=N_CLASSES):
    """Writes an upstream-layout hparams file for ``backbone``.

    ``classifier`` is :func:`save_tiny_classifier`'s return value.
    """
    _, width, entry = classifier
    psi_class = (
        "VectorQuantizedPSI_Audio"
        if backbone == "conv2d"
        else BACKBONES[backbone][2]
    )
    text = (
        HEAD.format(n_classes=n_classes)
        + CLASSIFIER.format(embedding_model=entry, width=width, K=K)
        + FEATURES.format(psi_class=psi_class, width=width)
    )
    path.write_text(text, encoding="utf-8")
    return path


def upstream_args(hparams_file, root, paths, run_name, *extra):
    """Command line (after ``train_piq.py``) of a tiny CPU run: the local
    classifier, and this recipe's ``clip_seconds`` that upstream's files
    lack."""
    return [
        str(hparams_file),
        "--data_folder",
        str(root / "data"),
        "--output_folder",
        str(root / run_name),
        "--embedding_model_path",
        paths["embedding_model"],
        "--classifier_model_path",
        paths["classifier"],
        "--clip_seconds",
        "1.0",
        *extra,
    ]
