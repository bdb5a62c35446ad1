"""The log-power STFT every classifier and interpreter here consumes.

PIQ and the classifiers it explains agree on one input representation:
``log1p(|STFT| ** (2 * spec_mag_power))`` computed with SpeechBrain's
``STFT`` (upstream's ESC-50 recipes use ``spec_mag_power: 0.5``, i.e. the
log of the magnitude). Keeping it in one module guarantees that the
classifier recipe, the interpreter and the inference interface never
drift apart.
"""

import torch
from speechbrain.processing.features import STFT, spectral_magnitude


class LogPowerSpectrogram(torch.nn.Module):
    """Log-compressed STFT magnitude, returned with the complex STFT.

    Arguments
    ---------
    sample_rate : int
        Sample rate of the input waveforms.
    n_fft : int
        FFT size; the spectrogram has ``n_fft // 2 + 1`` frequency bins.
    hop_length : float
        Hop between frames, in milliseconds.
    win_length : float
        Window length, in milliseconds.
    spec_mag_power : float
        Exponent applied to the power spectrum before ``log1p``
        (0.5 gives the magnitude, as upstream).

    Example
    -------
    >>> features = LogPowerSpectrogram()
    >>> logpower, stft = features(torch.randn(2, 80000))
    >>> print(logpower.shape, stft.shape)
    torch.Size([2, 431, 513]) torch.Size([2, 431, 513, 2])
    """

    def __init__(
        self,
        sample_rate=16000,
        n_fft=1024,
        hop_length=11.6099,
        win_length=23.2199,
        spec_mag_power=0.5,
    ):
        super().__init__()
        self.spec_mag_power = spec_mag_power
        self.compute_stft = STFT(
            sample_rate=sample_rate,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
        )

    def forward(self, wavs):
        """Computes the log-power spectrogram of a batch of waveforms.

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms, shape ``[B, samples]``.

        Returns
        -------
        logpower : torch.Tensor
            ``[B, T, F]`` log-power spectrogram.
        stft : torch.Tensor
            ``[B, T, F, 2]`` STFT (real, imaginary), for phase and inversion.
        """
        stft = self.compute_stft(wavs)
        power = spectral_magnitude(stft, power=self.spec_mag_power)
        return torch.log1p(power), stft
