"""What interpreting one clip gives a user, and how to keep it on disk."""

import os
from dataclasses import dataclass
from typing import Optional

import torch
from speechbrain.dataio import audio_io

from speechbrain_piq.plotting import SpectrogramGrid, plot_interpretation

WAV_NAME = "interpretation.wav"
PNG_NAME = "interpretation.png"


@dataclass
class InterpretationResult:
    """PIQ's explanation of one clip's predicted class (CPU tensors).

    Attributes
    ----------
    interpretation : torch.Tensor
        ``[samples]`` waveform of the masked spectrogram (the part of the
        clip that explains the prediction), at ``sample_rate``. It covers
        the frames the mask covers, so it can be a few hundred
        milliseconds shorter than the clip.
    mask : torch.Tensor
        ``[frames, bins]`` mask in [0, 1] over the log-power spectrogram.
    logpower : torch.Tensor
        ``[frames, bins]`` log-power spectrogram of the clip, cropped like
        ``mask``.
    label : str
        The predicted class.
    probability : float
        Softmax of the classifier's scores (times the yaml's
        ``logit_scale``, default 1), for the predicted class. For a clip
        longer than the classifier's training clips, interpreted in
        windows, the class and probability are those of the softmax
        averaged over the windows.
    class_index : int
        Index of the predicted class in the label encoder.
    sample_rate : int
        Sample rate of ``interpretation``, in Hz (the model's).
    grid : SpectrogramGrid, optional
        The STFT settings of ``mask`` and ``logpower``, which put the PNG's
        axes in seconds and kHz (frames and bins without them).

    Example
    -------
    >>> result = InterpretationResult(
    ...     interpretation=torch.zeros(16000),
    ...     mask=torch.rand(81, 513),
    ...     logpower=torch.rand(81, 513),
    ...     label="dog",
    ...     probability=0.93,
    ...     class_index=0,
    ...     sample_rate=16000,
    ... )
    >>> print(result)
    dog (p=0.93), 1.00 s at 16000 Hz
    """

    interpretation: torch.Tensor
    mask: torch.Tensor
    logpower: torch.Tensor
    label: str
    probability: float
    class_index: int
    sample_rate: int
    grid: Optional[SpectrogramGrid] = None

    def __str__(self):
        seconds = self.interpretation.shape[-1] / self.sample_rate
        return (
            f"{self.label} (p={self.probability:.2f}), {seconds:.2f} s at "
            f"{self.sample_rate} Hz"
        )

    def save(self, folder):
        """Writes ``interpretation.wav`` and ``interpretation.png``.

        The PNG shows the clip's spectrogram, the mask and their product
        (``speechbrain_piq.plotting.plot_interpretation``). The WAV is
        32-bit float so that resynthesis peaks above 1 are kept, not
        clipped.

        Arguments
        ---------
        folder : str or os.PathLike
            Destination folder, created if needed.

        Returns
        -------
        dict
            ``{"wav": path, "png": path}``.

        Example
        -------
        >>> result = InterpretationResult(
        ...     torch.zeros(1600), torch.rand(9, 5), torch.rand(9, 5),
        ...     "dog", 0.93, 0, 16000, SpectrogramGrid(16000, 186, 8),
        ... )
        >>> paths = result.save(getfixture("tmp_path") / "dog")
        >>> sorted(os.path.basename(path) for path in paths.values())
        ['interpretation.png', 'interpretation.wav']
        """
        folder = os.fspath(folder)
        os.makedirs(folder, exist_ok=True)
        paths = {
            "wav": os.path.join(folder, WAV_NAME),
            "png": os.path.join(folder, PNG_NAME),
        }
        audio_io.save(
            paths["wav"],
            self.interpretation.unsqueeze(0),
            self.sample_rate,
            subtype="FLOAT",
        )
        plot_interpretation(
            self.logpower,
            self.mask,
            f"predicted '{self.label}' (p = {self.probability:.2f})",
            paths["png"],
            self.grid,
        )
        return paths
