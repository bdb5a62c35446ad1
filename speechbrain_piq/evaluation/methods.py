"""The explanation methods an evaluation compares, by command-line name.

Every method turns one interpretation pass
(:class:`speechbrain_piq.interpretation.Interpretation`: the log-power
spectrogram the classifier sees, its prediction, PIQ's mask) into a
``[B, T, F]`` map over the same bins, in [0, 1], which the metrics then
treat exactly like PIQ's mask. How each is put in [0, 1]:

- masks (``piq``, ``ones``, ``half``, ``random``, ``energy``) are
  already in [0, 1] and are used as they are;
- gradient attributions (``saliency``, ``ig``, ``smoothgrad``) take the
  absolute value, divided by its largest value in the clip;
- ``gradcam`` and ``occlusion`` keep the positive part (evidence *for*
  the class), divided by its largest value in the clip.

Attributions explain the class the classifier predicts on the clip, with
respect to the log-power spectrogram, through Captum. Adding a method is
one function ``(context, interpretation) -> map`` registered in
``METHODS``.
"""

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from captum.attr import (
    IntegratedGradients,
    LayerGradCam,
    NoiseTunnel,
    Occlusion,
    Saliency,
)


class MethodContext(NamedTuple):
    """What the methods may use besides the interpretation pass."""

    audio_classifier: torch.nn.Module  # log-power -> ClassifierOutput
    mask_th: float  # energy threshold, a fraction of the clip's peak
    generator: torch.Generator  # for ``random`` and ``smoothgrad``
    ig_steps: int = 32  # Integrated Gradients' path steps
    smoothgrad_samples: int = 16  # noisy copies per clip
    smoothgrad_noise: float = 0.15  # noise std, a fraction of the range
    occlusion_window: tuple = (40, 64)  # frames, bins
    occlusion_stride: tuple = (40, 64)


def _scores(context):
    """The classifier as Captum calls it: spectrograms to class scores."""

    def forward(logpower):
        return context.audio_classifier(logpower).logits

    return forward


def normalise_by_peak(attribution):
    """Divides each clip's non-negative map by its largest value.

    Arguments
    ---------
    attribution : torch.Tensor
        ``[B, T, F]`` non-negative values.

    Returns
    -------
    torch.Tensor
        ``[B, T, F]`` in [0, 1]; an all-zero map stays zero.

    Example
    -------
    >>> normalise_by_peak(torch.tensor([[[1.0, 4.0]], [[0.0, 0.0]]]))
    tensor([[[0.2500, 1.0000]],
    <BLANKLINE>
            [[0.0000, 0.0000]]])
    """
    attribution = attribution.detach().float()
    peak = attribution.amax(dim=(1, 2), keepdim=True)
    return attribution / peak.clamp_min(torch.finfo(torch.float32).tiny)


def piq_mask(context, interpretation):
    """The interpreter's own mask."""
    return interpretation.mask.float()


def all_ones(context, interpretation):
    """Keeps everything: the mask that maximises Fid-In for free."""
    return torch.ones_like(interpretation.logpower, dtype=torch.float32)


def constant_half(context, interpretation):
    """Halves every bin."""
    return torch.full_like(interpretation.logpower, 0.5, dtype=torch.float32)


def uniform_random(context, interpretation):
    """Independent uniform values in [0, 1] (seeded)."""
    logpower = interpretation.logpower
    noise = torch.rand(
        logpower.shape, generator=context.generator, dtype=torch.float32
    )
    return noise.to(logpower.device)


def energy_threshold(context, interpretation):
    """PIQ's own training target, with no training: the bins whose
    log-power exceeds ``mask_th`` times the clip's peak."""
    logpower = interpretation.logpower
    peak = logpower.amax(dim=(1, 2), keepdim=True)
    return (logpower > context.mask_th * peak).float()


def _captum_inputs(interpretation):
    """The spectrogram as a leaf Captum can differentiate."""
    return interpretation.logpower.detach().float().requires_grad_(True)


def saliency(context, interpretation):
    """``|d score_c / d logpower|`` (Simonyan et al., 2014)."""
    attribution = Saliency(_scores(context)).attribute(
        _captum_inputs(interpretation),
        target=interpretation.predicted_class,
        abs=True,
    )
    return normalise_by_peak(attribution)


def integrated_gradients(context, interpretation):
    """Integrated Gradients from silence (all-zero log-power) to the clip
    (Sundararajan et al., 2017), ``|attribution|``."""
    inputs = _captum_inputs(interpretation)
    attribution = IntegratedGradients(_scores(context)).attribute(
        inputs,
        baselines=torch.zeros_like(inputs),
        target=interpretation.predicted_class,
        n_steps=context.ig_steps,
        internal_batch_size=inputs.shape[0],
    )
    return normalise_by_peak(attribution.abs())


def smoothgrad(context, interpretation):
    """SmoothGrad (Smilkov et al., 2017): saliency averaged over noisy
    copies, noise std ``smoothgrad_noise`` times the batch's log-power
    range."""
    inputs = _captum_inputs(interpretation)
    spread = float(inputs.detach().max() - inputs.detach().min())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(
            int(torch.randint(2**31, (1,), generator=context.generator))
        )
        attribution = NoiseTunnel(Saliency(_scores(context))).attribute(
            inputs,
            nt_type="smoothgrad",
            nt_samples=context.smoothgrad_samples,
            nt_samples_batch_size=inputs.shape[0],
            stdevs=context.smoothgrad_noise * spread,
            target=interpretation.predicted_class,
            abs=True,
        )
    return normalise_by_peak(attribution)


def last_convolution(audio_classifier):
    """The classifier's last ``Conv2d`` module, where Grad-CAM looks.

    Arguments
    ---------
    audio_classifier : torch.nn.Module

    Returns
    -------
    torch.nn.Conv2d

    Example
    -------
    >>> model = torch.nn.Sequential(
    ...     torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Conv2d(2, 4, 3)
    ... )
    >>> last_convolution(model).out_channels
    4
    """
    convolutions = [
        module
        for module in audio_classifier.modules()
        if isinstance(module, torch.nn.Conv2d)
    ]
    if not convolutions:
        raise ValueError(
            f"{type(audio_classifier).__name__} has no Conv2d layer for "
            "Grad-CAM; leave gradcam out of --methods"
        )
    return convolutions[-1]


def gradcam(context, interpretation):
    """Grad-CAM (Selvaraju et al., 2017) on the classifier's last
    convolution, upsampled bilinearly to the spectrogram's bins. The map's
    first axis is time for the conv2d classifiers and for the image
    backbones alike (``speechbrain_piq.classifiers.image_input``)."""
    inputs = _captum_inputs(interpretation)
    layer = last_convolution(context.audio_classifier)
    attribution = LayerGradCam(_scores(context), layer).attribute(
        inputs,
        target=interpretation.predicted_class,
        relu_attributions=True,
    )  # b 1 h w
    upsampled = F.interpolate(
        attribution.float(),
        size=inputs.shape[1:],
        mode="bilinear",
        align_corners=False,
    )
    return normalise_by_peak(upsampled[:, 0].clamp_min(0))


def occlusion(context, interpretation):
    """Occlusion (Zeiler & Fergus, 2014): the drop of the class score when
    a window of ``occlusion_window`` bins is silenced (log-power 0), slid
    by ``occlusion_stride``; positive part."""
    inputs = _captum_inputs(interpretation).detach()
    with torch.no_grad():
        attribution = Occlusion(_scores(context)).attribute(
            inputs,
            sliding_window_shapes=context.occlusion_window,
            strides=context.occlusion_stride,
            baselines=0.0,
            target=interpretation.predicted_class,
            perturbations_per_eval=max(1, 64 // inputs.shape[0]),
        )
    return normalise_by_peak(attribution.clamp_min(0))


# Command-line name -> method; the order is the table's.
METHODS: "dict[str, Callable]" = {
    "piq": piq_mask,
    "ones": all_ones,
    "half": constant_half,
    "random": uniform_random,
    "energy": energy_threshold,
    "saliency": saliency,
    "ig": integrated_gradients,
    "smoothgrad": smoothgrad,
    "gradcam": gradcam,
    "occlusion": occlusion,
}


def parse_methods(names):
    """Checks a comma-separated list of method names.

    Arguments
    ---------
    names : str or list of str
        E.g. ``"piq,ig,energy"``, or ``"all"``.

    Returns
    -------
    list of str
        The names, in the order given (``METHODS``' order for ``all``).

    Example
    -------
    >>> parse_methods("piq,energy")
    ['piq', 'energy']
    >>> parse_methods("piq,gradcm")
    Traceback (most recent call last):
    ...
    ValueError: unknown method 'gradcm'; choose from all, piq, ones, half, random, energy, saliency, ig, smoothgrad, gradcam, occlusion
    """
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",") if name.strip()]
    if names == ["all"]:
        return list(METHODS)
    for name in names:
        if name not in METHODS:
            raise ValueError(
                f"unknown method {name!r}; choose from all, "
                + ", ".join(METHODS)
            )
    if not names:
        raise ValueError("no method given; e.g. --methods piq,energy,ig")
    return list(dict.fromkeys(names))
