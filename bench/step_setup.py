"""Builds our ``PIQBrain`` and the upstream-equivalent Brain side by side.

Both interpret the same randomly initialised classifier (two copies with
identical weights: ours is frozen, upstream's keeps its autograd graph) with
PSI modules holding identical weights (upstream's class loads our
``state_dict``, whose keys it shares). PIQ settings come from the recipe's
``hparams/piq.yaml`` so the benchmark measures the defaults users run.
"""

import argparse
import copy
import os
import platform
import tempfile

import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.lobes.models import PIQ as upstream_piq
from speechbrain.lobes.models.ECAPA_TDNN import Classifier
from transformers import (
    FocalNetBackbone,
    FocalNetConfig,
    ViTConfig,
    ViTModel,
)
from upstream_step import UpstreamPIQBrain

from speechbrain_piq.brain import PIQBrain
from speechbrain_piq.classifiers import (
    Conv2dAudioClassifier,
    FocalNetAudioClassifier,
    ViTAudioClassifier,
)
from speechbrain_piq.lobes.models import PIQ as our_piq
from speechbrain_piq.training.objectives import WEIGHTED_TERMS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Upstream's exact recipe: the steps compare at equal settings by default.
PIQ_HPARAMS = os.path.join(REPO, "hparams", "piq_upstream.yaml")

# Batch sizes of the recipes (piq.yaml; piq_vit/piq_focalnet use 6 clips)
# and each backbone's PSI class.
CONFIGS = {
    "conv2d": {"batch_size": 16, "psi": "VectorQuantizedPSI_Audio"},
    "vit": {"batch_size": 6, "psi": "VectorQuantizedPSIViT_Audio"},
    "focalnet": {"batch_size": 6, "psi": "VectorQuantizedPSIFocalNet_Audio"},
}


def bench_parser(description):
    """An ``argparse`` parser with the options every step benchmark takes:
    ``--configs`` (backbones to measure) and ``--device``.

    Arguments
    ---------
    description : str
        The benchmark's one-line description.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS)
    )
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu"
    )
    return parser


def device_name(device):
    """The GPU's name, or the CPU's with its thread count, for the tables.

    Arguments
    ---------
    device : str or torch.device
        Where the benchmark runs.

    Returns
    -------
    str
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return (
        f"CPU ({platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads)"
    )


def piq_defaults(overrides=None, hparams_file=PIQ_HPARAMS):
    """A recipe's hparams (``hparams/piq_upstream.yaml`` by default),
    without data or outputs.

    Arguments
    ---------
    overrides : dict, optional
        Keys to override, as on the recipe's command line.
    hparams_file : str
        The recipe yaml (e.g. ``hparams/piq.yaml`` for our defaults).

    Returns
    -------
    dict
        The loaded hparams; outputs go to a temporary folder.
    """
    output_folder = tempfile.mkdtemp(prefix="piq_bench_")
    settings = {"data_folder": output_folder, "output_folder": output_folder}
    settings.update(overrides or {})
    with open(hparams_file, encoding="utf-8") as fin:
        return load_hyperpyyaml(fin, settings)


def build_classifier(name, n_classes, tiny=False):
    """A randomly initialised audio classifier with the real geometry
    (``tiny=True``: a few channels, for tests).

    Arguments
    ---------
    name : str
        ``conv2d``, ``vit`` or ``focalnet``.
    n_classes : int
        Classifier outputs.
    tiny : bool
        Shrink the backbone (same interfaces and map sizes).

    Returns
    -------
    classifier : speechbrain_piq.classifiers.AudioClassifier
    dim : int
        Channels of its representation (PSI's ``dim``).
    """
    if name == "conv2d":
        dim = 16 if tiny else 256
        backbone = our_piq.Conv2dEncoder_v2(dim=dim)
        adapter = Conv2dAudioClassifier
    elif name == "vit":
        config = (
            ViTConfig(
                hidden_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=64,
            )
            if tiny
            else ViTConfig()  # google/vit-base-patch16-224's geometry
        )
        dim, backbone, adapter = (
            config.hidden_size,
            ViTModel(config),
            ViTAudioClassifier,
        )
    elif name == "focalnet":
        # microsoft/focalnet-base's geometry, or a tiny one with 4 stages
        config = (
            FocalNetConfig(
                embed_dim=4, depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 32, 32]
            )
            if tiny
            else FocalNetConfig(
                embed_dim=128,
                depths=[2, 2, 18, 2],
                focal_levels=[3, 3, 3, 3],
                focal_windows=[3, 3, 3, 3],
                hidden_sizes=[256, 512, 1024, 1024],
            )
        )
        dim, backbone, adapter = (
            config.hidden_sizes[-1],
            FocalNetBackbone(config),
            FocalNetAudioClassifier,
        )
    else:
        raise ValueError(
            f"unknown classifier {name!r}; choose one of {sorted(CONFIGS)}"
        )
    head = Classifier(input_size=dim, out_neurons=n_classes, lin_blocks=1)
    return adapter(backbone, head), dim


def psi_options(dim, hparams):
    """PSI's constructor arguments at the recipe's settings.

    Arguments
    ---------
    dim : int
        Channels of the classifier's representation.
    hparams : dict
        Loaded ``piq.yaml``.

    Returns
    -------
    dict
    """
    return {
        "dim": dim,
        "K": hparams["K"],
        "numclasses": hparams["out_n_neurons"],
        "shared_keys": hparams["shared_keys"],
        "activate_class_partitioning": hparams["activate_class_partitioning"],
        "use_adapter": hparams["use_adapter"],
        "adapter_reduce_dim": hparams["adapter_reduce_dim"],
    }


def build_interpreter(name, hparams):
    """A randomly initialised classifier (real geometry) and our PSI for
    it, at the recipe's settings.

    Arguments
    ---------
    name : str
        Classifier backbone (a key of ``CONFIGS``).
    hparams : dict
        Loaded ``piq.yaml``.

    Returns
    -------
    classifier : speechbrain_piq.classifiers.AudioClassifier
    psi : speechbrain_piq.lobes.models.PIQ.VectorQuantizedPSI_Audio
    """
    classifier, dim = build_classifier(name, hparams["out_n_neurons"])
    psi = getattr(our_piq, CONFIGS[name]["psi"])(
        **psi_options(dim, hparams), decoder=hparams["decoder"]
    )
    return classifier, psi


def build_brains(
    name,
    device="cpu",
    run_opts=None,
    channels_last=False,
    tiny=False,
    hparams=None,
):
    """Our ``PIQBrain`` and the upstream-equivalent Brain, same weights.

    Arguments
    ---------
    name : str
        Classifier backbone (a key of ``CONFIGS``).
    device : str
        Device of both Brains.
    run_opts : dict, optional
        Extra SpeechBrain run options for ours (``precision``,
        ``compile``...); upstream always runs in fp32, uncompiled.
    channels_last : bool
        Our PSI and classifier weights in channels-last memory format.
    tiny : bool
        Tiny classifier and PSI, for tests.
    hparams : dict, optional
        A loaded recipe yaml (default: ``piq_defaults()``, upstream's
        settings). Ours trains with its objective and decoder; upstream's
        with its reconstruction loss and transposed decoder (same weights
        when the decoders match).

    Returns
    -------
    ours : speechbrain_piq.brain.PIQBrain
    upstream : upstream_step.UpstreamPIQBrain
        Both with optimizers initialised and modules in training mode.
    """
    hparams = hparams if hparams is not None else piq_defaults()
    classifier, dim = build_classifier(name, hparams["out_n_neurons"], tiny)
    psi_class = CONFIGS[name]["psi"]
    our_psi = getattr(our_piq, psi_class)(
        **psi_options(dim, hparams), decoder=hparams["decoder"]
    )
    upstream_psi = getattr(upstream_piq, psi_class)(**psi_options(dim, hparams))
    if hparams["decoder"] == "transposed":
        upstream_psi.load_state_dict(our_psi.state_dict())

    # Copied before ours may turn its weights channels-last.
    upstream_classifier = copy.deepcopy(classifier)
    shared = {
        "mask_th": hparams["mask_th"],
        "rec_loss_coef": hparams["rec_loss_coef"],
    }

    ours = PIQBrain(
        modules={
            "psi": our_psi,
            "compute_features": hparams["compute_features"],
            "compute_istft": hparams["compute_istft"],
        },
        opt_class=hparams["opt_class"],
        hparams={
            **shared,
            "audio_classifier": classifier,
            **{
                f"{term}_coef": hparams.get(f"{term}_coef", 0.0)
                for term in WEIGHTED_TERMS
            },
            "logit_scale": hparams.get("logit_scale", 1.0),
            # No listening outputs: the benchmark times the metrics only.
            "n_interpretations": 0,
            "channels_last": channels_last,
            "sample_rate": hparams["sample_rate"],
        },
        run_opts={
            "device": device,
            "skip_nonfinite_grads": hparams["skip_nonfinite_grads"],
            **(run_opts or {}),
        },
    )
    upstream = UpstreamPIQBrain(
        modules={
            "psi": upstream_psi,
            "compute_features": copy.deepcopy(hparams["compute_features"]),
            "compute_istft": copy.deepcopy(hparams["compute_istft"]),
        },
        opt_class=hparams["opt_class"],
        hparams={**shared, "audio_classifier": upstream_classifier},
        run_opts={"device": device},
    )
    for brain in (ours, upstream):
        brain.on_fit_start()
        brain.modules.train()
    return ours, upstream


def synthetic_batch(batch_size, seconds, sample_rate, n_classes, seed=0):
    """A batch of random clips shaped as the recipe's data loader makes it.

    Arguments
    ---------
    batch_size : int
        Number of clips.
    seconds : float
        Clip length.
    sample_rate : int
        Samples per second.
    n_classes : int
        Labels are drawn from ``range(n_classes)``.
    seed : int
        Seed of the clips and labels.

    Returns
    -------
    speechbrain.dataio.batch.PaddedBatch
        With ``id``, ``sig`` and ``class_string_encoded``, on the CPU.

    Example
    -------
    >>> batch = synthetic_batch(2, 0.5, 16000, 50)
    >>> print(batch.sig.data.shape, batch.class_string_encoded.data.shape)
    torch.Size([2, 8000]) torch.Size([2, 1])
    """
    generator = torch.Generator().manual_seed(seed)
    samples = int(seconds * sample_rate)
    wavs = torch.randn(batch_size, samples, generator=generator) * 0.1
    labels = torch.randint(0, n_classes, (batch_size,), generator=generator)
    return PaddedBatch(
        [
            {
                "id": f"clip{index}",
                "sig": wav,
                "class_string_encoded": label.view(1),
            }
            for index, (wav, label) in enumerate(zip(wavs, labels))
        ]
    )
