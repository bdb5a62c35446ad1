"""One interpretation pass, shared by training, evaluation and inference.

``interpret`` runs the frozen classifier on the log-power spectrogram, asks
PSI for mask logits from the classifier's representation and predicted
class, and returns everything the loss, the metrics and the listening
outputs need. The Brain (training), the inference interface and the
benchmarks all call it, so what is trained is exactly what is served.

The conv2d PSI decoder emits a map close to, not exactly, the
spectrogram's size (417 x 513 for 431 x 513 input frames and bins), and
longer clips give longer maps. As upstream, interpretation happens on the
region both cover: the first ``min(T, T')`` frames and ``min(F, F')`` bins.
The ViT/FocalNet decoders always emit 431 x 513, a 5 s clip's size (the
recipes' clips), because their classifier sees any clip resized to one
square image; for a clip of another length the map covers the whole clip,
and is resized to its frames instead of cropped.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from speechbrain.processing.NMF import spectral_phase


class Interpretation(NamedTuple):
    """Everything one interpretation pass produces (batch first).

    ``logpower``, ``stft``, ``mask_logits`` and ``mask`` share the frames and
    bins both the spectrogram and the PSI decoder cover.
    """

    logpower: torch.Tensor  # [B, T, F] classifier input, cropped
    stft: torch.Tensor  # [B, T, F, 2] STFT, cropped alike
    logits: torch.Tensor  # [B, n_classes] classifier output
    predicted_class: torch.Tensor  # [B] long
    mask_logits: torch.Tensor  # [B, T, F]
    mask: torch.Tensor  # [B, T, F] in [0, 1]
    representation: torch.Tensor  # [B, C, H, W] (reduced) PSI input
    quantized: torch.Tensor  # [B, C, H, W] its quantized version


def common_region(mask_logits, logpower, resized_input=False):
    """Crops decoder logits and spectrogram to the region both cover.

    Arguments
    ---------
    mask_logits : torch.Tensor
        ``[B, 1, T', F']`` decoder output.
    logpower : torch.Tensor
        ``[B, T, F]`` log-power spectrogram (or any ``[B, T, F, ...]``).
    resized_input : bool
        The classifier saw the spectrogram resized to a fixed image (ViT,
        FocalNet), so the decoder's map covers the whole clip: it is
        resized (bilinearly) to ``T x F`` instead of cropped.

    Returns
    -------
    mask_logits : torch.Tensor
        ``[B, min(T, T'), min(F, F')]``.
    frames, bins : int
        The cropped size, to crop companions such as the STFT.

    Example
    -------
    >>> logits, frames, bins = common_region(
    ...     torch.zeros(2, 1, 417, 519), torch.zeros(2, 431, 513)
    ... )
    >>> print(logits.shape, frames, bins)
    torch.Size([2, 417, 513]) 417 513
    >>> logits, frames, bins = common_region(
    ...     torch.zeros(2, 1, 431, 513), torch.zeros(2, 216, 513), True
    ... )
    >>> print(logits.shape, frames, bins)
    torch.Size([2, 216, 513]) 216 513
    """
    if resized_input and mask_logits.shape[2:] != logpower.shape[1:3]:
        mask_logits = F.interpolate(
            mask_logits,
            size=logpower.shape[1:3],
            mode="bilinear",
            align_corners=False,
        )
    frames = min(mask_logits.shape[2], logpower.shape[1])
    bins = min(mask_logits.shape[3], logpower.shape[2])
    return mask_logits[:, 0, :frames, :bins], frames, bins


def interpret(features, audio_classifier, psi, wavs, target=None):
    """Classifies ``wavs`` and computes PSI's mask for the predicted class
    (or for ``target``).

    The classifier runs without autograd (it is frozen); gradients flow
    only through PSI.

    Arguments
    ---------
    features : speechbrain_piq.features.LogPowerSpectrogram
        Waveform to log-power spectrogram.
    audio_classifier : torch.nn.Module
        Returns a ``ClassifierOutput`` (representation, embedding, logits)
        for a log-power spectrogram.
    psi : speechbrain_piq.lobes.models.PIQ.VectorQuantizedPSI_Audio
        The interpreter (any of the three PSI variants).
    wavs : torch.Tensor
        ``[B, samples]`` waveforms.
    target : torch.Tensor, optional
        ``[B]`` class indices to explain instead of the predicted ones
        (``predicted_class`` stays the classifier's prediction).

    Returns
    -------
    Interpretation

    Example
    -------
    >>> from speechbrain_piq.features import LogPowerSpectrogram
    >>> from speechbrain_piq.lobes.models.PIQ import VectorQuantizedPSI_Audio
    >>> class TinyClassifier(torch.nn.Module):
    ...     def forward(self, logpower):
    ...         representation = torch.nn.functional.avg_pool2d(
    ...             logpower.unsqueeze(1), 16
    ...         ).expand(-1, 8, -1, -1)
    ...         embedding = representation.mean((-1, -2))
    ...         return representation, embedding, embedding[:, :3]
    >>> psi = VectorQuantizedPSI_Audio(dim=8, K=12, numclasses=3)
    >>> result = interpret(
    ...     LogPowerSpectrogram(), TinyClassifier(), psi, torch.randn(2, 80000)
    ... )
    >>> print(result.mask.shape, result.logpower.shape)
    torch.Size([2, 417, 513]) torch.Size([2, 417, 513])
    """
    logpower, stft = features(wavs)
    with torch.no_grad():
        representation, _, logits = audio_classifier(logpower)
        predicted_class = logits.argmax(dim=1)
    explained = predicted_class if target is None else target
    decoded, reduced, quantized = psi(representation, explained)
    mask_logits, frames, bins = common_region(
        decoded, logpower, getattr(audio_classifier, "resizes_input", False)
    )
    return Interpretation(
        logpower=logpower[:, :frames, :bins],
        stft=stft[:, :frames, :bins],
        logits=logits,
        predicted_class=predicted_class,
        mask_logits=mask_logits,
        mask=torch.sigmoid(mask_logits),
        representation=reduced,
        quantized=quantized,
    )


def masked_spectrograms(mask, logpower):
    """The mask-in and mask-out log-power spectrograms.

    Arguments
    ---------
    mask : torch.Tensor
        ``[B, T, F]`` in [0, 1].
    logpower : torch.Tensor
        ``[B, T, F]``.

    Returns
    -------
    masked_in, masked_out : torch.Tensor
        ``mask * logpower`` and ``(1 - mask) * logpower``.

    Example
    -------
    >>> masked_in, masked_out = masked_spectrograms(
    ...     torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[2.0, 3.0]]])
    ... )
    >>> print(masked_in, masked_out)
    tensor([[[2., 0.]]]) tensor([[[0., 3.]]])
    """
    return mask * logpower, (1 - mask) * logpower


def spectrogram_to_waveform(masked_logpower, stft, istft):
    """Inverts a (masked) log-power spectrogram with the original phase.

    ``expm1`` undoes the ``log1p`` compression (back to the magnitude when
    the spectrogram was built with ``spec_mag_power: 0.5``), the phase
    comes from the original STFT, and SpeechBrain's ``ISTFT`` resynthesises.

    Arguments
    ---------
    masked_logpower : torch.Tensor
        ``[B, T, F]`` log-power spectrogram to listen to.
    stft : torch.Tensor
        ``[B, T, F, 2]`` STFT of the original clip (for its phase).
    istft : speechbrain.processing.features.ISTFT
        The inverse transform matching the forward STFT.

    Returns
    -------
    torch.Tensor
        ``[B, samples]`` waveforms.

    Example
    -------
    >>> from speechbrain.processing.features import ISTFT
    >>> from speechbrain_piq.features import LogPowerSpectrogram
    >>> logpower, stft = LogPowerSpectrogram()(torch.randn(1, 16000))
    >>> istft = ISTFT(sample_rate=16000, hop_length=11.6099, win_length=23.2199)
    >>> print(spectrogram_to_waveform(logpower, stft, istft).shape)
    torch.Size([1, 15996])
    """
    magnitude = torch.expm1(masked_logpower).unsqueeze(-1)
    phase = spectral_phase(stft).unsqueeze(-1)
    unit_phasor = torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)
    return istft(magnitude * unit_phasor)
