"""A transformers ``FocalNetBackbone`` audio classifier
(``speechbrain/focalnet-base-esc50``).

The backbone is built from a ``FocalNetConfig``; microsoft/focalnet-base is
``embed_dim=128, depths=[2, 2, 18, 2], focal_levels=[3, 3, 3, 3],
focal_windows=[3, 3, 3, 3], hidden_sizes=[256, 512, 1024, 1024]``, so no
network access is needed when a checkpoint is loaded afterwards.
"""

import torch.nn.functional as F

from speechbrain_piq.classifiers.base import AudioClassifier
from speechbrain_piq.classifiers.image_input import spectrogram_to_image


class FocalNetAudioClassifier(AudioClassifier):
    """FocalNet classifier on the resized log-power spectrogram.

    The last stage's map (``[B, 1024, 7, 7]`` for focalnet-base on 224x224)
    is mean-pooled into the embedding, as upstream. The representation is
    that map upsampled ``upsample_factor`` times, because PIQ's ViT/FocalNet
    decoder turns a 14x14 map into a full 431x513 spectrogram mask; the
    upsampling is bilinear, as upstream's ``torchvision`` ``resize``.

    Arguments
    ---------
    embedding_model : transformers.FocalNetBackbone
        The backbone; its last feature map is used.
    classifier : torch.nn.Module
        Head on the embedding (ECAPA ``Classifier`` with ``input_size=1024``
        upstream).
    upsample_factor : int
        Spatial upsampling of the representation map.
    upsample_mode : str
        ``torch.nn.functional.interpolate`` mode of that upsampling
        (``bilinear``, without aligned corners, is upstream's).
    antialias : bool
        Antialiased resize of the spectrogram (see
        :func:`~speechbrain_piq.classifiers.image_input.spectrogram_to_image`).

    Example
    -------
    >>> from speechbrain.lobes.models.ECAPA_TDNN import Classifier
    >>> from transformers import FocalNetBackbone, FocalNetConfig
    >>> config = FocalNetConfig(
    ...     embed_dim=8, depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 64, 64]
    ... )
    >>> model = FocalNetAudioClassifier(
    ...     FocalNetBackbone(config),
    ...     Classifier(input_size=64, out_neurons=10, lin_blocks=1),
    ... ).freeze()
    >>> out = model(torch.rand(2, 431, 513))
    >>> print(out.representation.shape, out.embedding.shape, out.logits.shape)
    torch.Size([2, 64, 14, 14]) torch.Size([2, 64]) torch.Size([2, 10])
    """

    resizes_input = True

    def __init__(
        self,
        embedding_model,
        classifier,
        upsample_factor=2,
        upsample_mode="bilinear",
        antialias=True,
    ):
        super().__init__(embedding_model, classifier)
        self.upsample_factor = upsample_factor
        self.upsample_mode = upsample_mode
        self.antialias = antialias

    def encode(self, logpower):
        """Computes the upsampled last-stage map and its spatial mean.

        Arguments
        ---------
        logpower : torch.Tensor
            ``[B, T, F]`` log-power spectrogram.

        Returns
        -------
        representation : torch.Tensor
            ``[B, C, H * upsample_factor, W * upsample_factor]`` map.
        embedding : torch.Tensor
            ``[B, C]`` mean of the last-stage map.
        """
        config = self.embedding_model.config
        image = spectrogram_to_image(
            logpower, config.image_size, config.num_channels, self.antialias
        )
        feature_map = self.embedding_model(image).feature_maps[-1]
        representation = F.interpolate(
            feature_map,
            scale_factor=self.upsample_factor,
            mode=self.upsample_mode,
        )
        return representation, feature_map.mean(dim=(-1, -2))
