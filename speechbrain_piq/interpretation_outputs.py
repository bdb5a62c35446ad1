"""Writes what a person listens to and looks at for each interpreted clip:
``original.wav``, ``interpretation.wav`` and ``interpretation.png``."""

import os

import torch
from speechbrain.dataio import audio_io

from speechbrain_piq.interpretation import spectrogram_to_waveform
from speechbrain_piq.plotting import SpectrogramGrid, plot_interpretation


@torch.no_grad()
def write_interpretations(
    folder,
    interpretation,
    clip_ids,
    waveforms,
    istft,
    label_encoder,
    sample_rate,
    logit_scale=1.0,
):
    """Writes one sub-folder per clip for the first ``len(clip_ids)`` clips.

    Arguments
    ---------
    folder : str
        Parent folder; each clip gets ``folder/<clip_id>/``.
    interpretation : speechbrain_piq.interpretation.Interpretation
        The batch's interpretation pass.
    clip_ids : list of str
        Identifiers of the clips to write (the batch's first ones).
    waveforms : torch.Tensor
        ``[len(clip_ids), samples]`` original audio.
    istft : speechbrain.processing.features.ISTFT
        Inverse of the STFT used for the features; its settings put the
        PNG's axes in seconds and kHz.
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        Maps the predicted index to the class name.
    sample_rate : int
        Sample rate of ``waveforms``.
    logit_scale : float
        Multiplies the classifier's scores before the softmax whose value
        for the predicted class (the calibrated probability) titles the
        PNG: ECAPA heads output cosines and are trained with a scale, 30 in
        upstream's recipes.

    Returns
    -------
    list of str
        The folders written.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> from speechbrain.dataio.encoder import CategoricalEncoder
    >>> from speechbrain.processing.features import ISTFT
    >>> encoder = CategoricalEncoder()
    >>> encoder.update_from_iterable(["dog", "rain"])
    >>> found = SimpleNamespace(
    ...     mask=torch.rand(1, 44, 513),
    ...     logpower=torch.rand(1, 44, 513),
    ...     stft=torch.randn(1, 44, 513, 2),
    ...     logits=torch.tensor([[0.2, 0.1]]),
    ...     predicted_class=torch.tensor([0]),
    ... )
    >>> folders = write_interpretations(
    ...     getfixture("tmp_path"), found, ["clip"], torch.randn(1, 8000),
    ...     ISTFT(sample_rate=16000, hop_length=11.6099, win_length=23.2199),
    ...     encoder, 16000, logit_scale=30,
    ... )
    >>> sorted(os.listdir(folders[0]))
    ['interpretation.png', 'interpretation.wav', 'original.wav']
    """
    count = len(clip_ids)
    mask = interpretation.mask[:count].float()
    logpower = interpretation.logpower[:count].float()
    listening = spectrogram_to_waveform(
        mask * logpower, interpretation.stft[:count].float(), istft
    )
    probabilities = (
        logit_scale * interpretation.logits[:count].float()
    ).softmax(dim=-1)
    predicted = interpretation.predicted_class[:count]
    grid = SpectrogramGrid.of_stft(istft, n_bins=mask.shape[-1])
    written = []
    for index, clip_id in enumerate(clip_ids):
        clip_folder = os.path.join(folder, str(clip_id))
        os.makedirs(clip_folder, exist_ok=True)
        audio_io.save(
            os.path.join(clip_folder, "original.wav"),
            waveforms[index].float().cpu().unsqueeze(0),
            sample_rate,
        )
        audio_io.save(
            os.path.join(clip_folder, "interpretation.wav"),
            listening[index].cpu().unsqueeze(0),
            sample_rate,
        )
        class_index = int(predicted[index])
        class_name = label_encoder.ind2lab[class_index]
        probability = float(probabilities[index, class_index])
        plot_interpretation(
            logpower[index],
            mask[index],
            f"{clip_id}: predicted '{class_name}' (p = {probability:.2f})",
            os.path.join(clip_folder, "interpretation.png"),
            grid,
        )
        written.append(clip_folder)
    return written
