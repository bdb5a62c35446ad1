"""The upstream PIQ-ESC50 classifier: ``Conv2dEncoder_v2`` + ECAPA head."""

from speechbrain_piq.classifiers.base import AudioClassifier


class Conv2dAudioClassifier(AudioClassifier):
    """Convolutional classifier that reads the log-power STFT directly.

    The encoder's output map is the representation PIQ quantizes; its
    time-frequency mean is the embedding, as in upstream's recipe.

    Arguments
    ---------
    embedding_model : torch.nn.Module
        ``[B, T, F] -> [B, C, H, W]`` encoder, upstream's
        ``Conv2dEncoder_v2(dim=256)``.
    classifier : torch.nn.Module
        Head on the ``C``-dimensional embedding, upstream's
        ``ECAPA_TDNN.Classifier(input_size=256, out_neurons=N, lin_blocks=1)``.

    Example
    -------
    >>> from speechbrain.lobes.models.ECAPA_TDNN import Classifier
    >>> from speechbrain_piq.lobes.models.PIQ import Conv2dEncoder_v2
    >>> model = Conv2dAudioClassifier(
    ...     Conv2dEncoder_v2(dim=16),
    ...     Classifier(input_size=16, out_neurons=10, lin_blocks=1),
    ... ).freeze()
    >>> out = model(torch.rand(2, 431, 513))
    >>> print(out.representation.shape, out.embedding.shape, out.logits.shape)
    torch.Size([2, 16, 26, 32]) torch.Size([2, 16]) torch.Size([2, 10])
    """

    def encode(self, logpower):
        """Computes the encoder map and its time-frequency mean.

        Arguments
        ---------
        logpower : torch.Tensor
            ``[B, T, F]`` log-power spectrogram.

        Returns
        -------
        representation : torch.Tensor
            ``[B, C, H, W]`` encoder output (``[B, 256, 26, 32]`` for a 5 s
            clip with upstream's encoder).
        embedding : torch.Tensor
            ``[B, C]`` mean of the map.
        """
        representation = self.embedding_model(logpower)
        return representation, representation.mean(dim=(-1, -2))
