"""An upstream-equivalent PIQ training and validation step, for timing.

``UpstreamPIQBrain`` does the per-batch work of upstream's
``recipes/ESC50/interpret/train_piq.py`` with upstream's PSI classes
(``speechbrain.lobes.models.PIQ``), in fp32, so that the benchmark times
both sides with the same SpeechBrain ``fit_batch`` / ``evaluate_batch``:

* forward: log-power STFT, the classifier *with autograd* (upstream leaves
  its weights trainable, just outside the optimizer), PSI, sigmoid mask;
* objectives: the STFT again, the classifier on the masked-in and the
  masked-out spectrogram (with autograd, unused by the loss), and the loss
  ``rec_loss_coef * BCE(mask, X > mask_th * max X)`` plus the codebook and
  commitment MSEs;
* VALID/TEST only: the interpretation recomputed twice (upstream's
  sparseness and complexity metrics each recompute it), the faithfulness
  probabilities copied to the host (``MetricStats``), and sparseness and
  complexity with ``quantus`` on the CPU, one batch at a time.

Needs ``quantus`` (``pip install quantus``), as upstream's recipe does.
The benchmark feeds it our classifier adapters (the backbones are the same
modules upstream runs); the STFT is ``LogPowerSpectrogram``, which is
upstream's ``preprocess`` (STFT, ``spectral_magnitude``, ``log1p``).
"""

import numpy as np
import speechbrain as sb
import torch
import torch.nn.functional as F
from speechbrain.processing.NMF import spectral_phase

from speechbrain_piq.interpretation import common_region

UPSTREAM_EPS = 1e-10


def upstream_loss(logpower, mask, representation, quantized, mask_th, coef):
    """Upstream PIQ's loss, written out as upstream computes it.

    Arguments
    ---------
    logpower : torch.Tensor
        ``[B, T, F]`` log-power spectrogram, cropped to the mask's region.
    mask : torch.Tensor
        ``[B, T, F]`` sigmoid mask (upstream's ``xhat``).
    representation : torch.Tensor
        ``[B, C, H, W]`` PSI's (reduced) input, upstream's ``hcat``.
    quantized : torch.Tensor
        Its quantized version, upstream's ``z_q_x``.
    mask_th : float
        Binarisation threshold, relative to each clip's maximum.
    coef : float
        Weight of the reconstruction (BCE) term, ``rec_loss_coef``.

    Returns
    -------
    torch.Tensor
        The scalar loss.

    Example
    -------
    >>> x = torch.ones(2, 3, 4)
    >>> z = torch.zeros(2, 5, 1, 1)
    >>> loss = upstream_loss(x, torch.full_like(x, 0.5), z, z, 0.35, 1.0)
    >>> print(round(loss.item(), 4))
    0.6931
    """
    peak = logpower.amax(dim=-1, keepdim=True).amax(dim=-2, keepdim=True)
    target = (logpower > mask_th * peak).float()
    # Upstream writes the BCE out with a 1e-10 guard inside the logs.
    rec_loss = (
        -target * torch.log(mask + UPSTREAM_EPS)
        - (1 - target) * torch.log(1 - mask + UPSTREAM_EPS)
    ).mean()
    return (
        coef * rec_loss
        + F.mse_loss(quantized, representation.detach())
        + F.mse_loss(representation, quantized.detach())
    )


def quantus_mask_scores(mask, spectrogram, labels):
    """Sparseness and complexity of a batch of masks, with quantus on the
    CPU, as upstream's evaluation does per batch.

    Arguments
    ---------
    mask : torch.Tensor
        ``[B, T, F]`` masks.
    spectrogram : torch.Tensor
        ``[B, T, F]`` the inputs they explain.
    labels : torch.Tensor
        ``[B]`` explained classes.

    Returns
    -------
    sparseness, complexity : list of float
        One value per clip.

    Example
    -------
    >>> sps, comp = quantus_mask_scores(
    ...     torch.rand(2, 8, 8), torch.rand(2, 8, 8), torch.tensor([0, 1])
    ... )
    >>> len(sps), len(comp)
    (2, 2)
    """
    # Imported here: only the timed VALID step needs quantus (not a
    # dependency of speechbrain-piq), so the equivalence tests run without.
    import quantus

    inputs = {
        "model": None,
        "x_batch": spectrogram.unsqueeze(1).float().cpu().numpy(),
        "y_batch": labels.cpu().numpy(),
        "a_batch": mask.unsqueeze(1).float().cpu().numpy(),
        "channel_first": True,
        "device": "cpu",
    }
    sparseness = quantus.Sparseness(disable_warnings=True)(**inputs)
    complexity = quantus.Complexity(disable_warnings=True)(**inputs)
    return list(np.asarray(sparseness)), list(np.asarray(complexity))


class UpstreamPIQBrain(sb.Brain):
    """Upstream's per-batch work around upstream's PSI (see module doc).

    Expected modules: ``psi`` (an upstream ``VectorQuantizedPSI*_Audio``),
    ``compute_features`` (``LogPowerSpectrogram``). Expected hparams:
    ``audio_classifier`` (not frozen: upstream builds its autograd graph),
    ``mask_th``, ``rec_loss_coef``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Upstream puts the classifier in eval mode but keeps its weights
        # trainable (they are just not in the optimizer).
        self.hparams.audio_classifier.to(self.device).eval()
        self.hparams.audio_classifier.requires_grad_(True)

    def interpret(self, wavs):
        """Upstream's forward: STFT, classifier with autograd, PSI, mask.

        Returns the mask, the classifier's logits, PSI's representation and
        its quantized version, the log-power spectrogram (cropped to the
        mask) and the STFT.
        """
        logpower, stft = self.modules.compute_features(wavs)
        representation, _, logits = self.hparams.audio_classifier(logpower)
        predicted_class = logits.argmax(dim=1)
        decoded, reduced, quantized = self.modules.psi(
            representation, predicted_class
        )
        mask_logits, frames, bins = common_region(decoded, logpower)
        logpower = logpower[:, :frames, :bins]
        mask = torch.sigmoid(mask_logits)
        return mask, logits, reduced, quantized, logpower, stft

    def listen(self, wavs):
        """Upstream's ``interpret_batch``: the masked-in spectrogram back
        to a waveform with the clip's phase."""
        mask, _, _, _, logpower, stft = self.interpret(wavs)
        magnitude = torch.expm1(mask * logpower).unsqueeze(-1)
        phase = spectral_phase(stft)[:, : mask.shape[1], : mask.shape[2]]
        phasor = torch.stack([torch.cos(phase), torch.sin(phase)], dim=-1)
        return self.modules.compute_istft(magnitude * phasor)

    def compute_forward(self, batch, stage):
        """One interpretation pass, as upstream's ``compute_forward``."""
        batch = batch.to(self.device)
        return self.interpret(batch.sig.data)[:4]

    def compute_objectives(self, predictions, batch, stage):
        """Upstream's ``compute_objectives`` (see module doc)."""
        mask, logits, reduced, quantized = predictions
        logpower, _ = self.modules.compute_features(batch.sig.data)
        logpower = logpower[:, : mask.shape[1], : mask.shape[2]]
        logits_in = self.hparams.audio_classifier(mask * logpower).logits
        logits_out = self.hparams.audio_classifier((1 - mask) * logpower).logits
        loss = upstream_loss(
            logpower,
            mask,
            reduced,
            quantized,
            self.hparams.mask_th,
            self.hparams.rec_loss_coef,
        )
        if stage != sb.Stage.TRAIN:
            self._evaluate_masks(batch.sig.data, logits, logits_in, logits_out)
        return loss

    def _evaluate_masks(self, wavs, logits, logits_in, logits_out):
        """Upstream's VALID/TEST extras: two more interpretation passes,
        host copies of the probabilities, quantus SPS/COMP on the CPU."""
        for _ in range(2):
            mask, _, _, _, logpower, _ = self.interpret(wavs)
        for scores in (logits, logits_in, logits_out):
            scores.softmax(dim=1).cpu()
        quantus_mask_scores(mask, mask * logpower, logits.argmax(dim=1))


def warm_up_quantus():
    """Pays quantus' one-time start-up cost outside the timed steps."""
    mask = torch.rand(2, 8, 8)
    quantus_mask_scores(mask, mask, torch.tensor([0, 1]))
