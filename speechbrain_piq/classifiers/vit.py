"""A transformers ``ViTModel`` audio classifier (``speechbrain/vit-base-esc50``).

The backbone is built from a ``ViTConfig`` (its defaults are the
google/vit-base-patch16-224 geometry: 224x224 input, 16x16 patches, 768
channels), so no network access is needed when a checkpoint is loaded
afterwards.
"""

from speechbrain_piq.classifiers.base import AudioClassifier
from speechbrain_piq.classifiers.image_input import spectrogram_to_image


class ViTAudioClassifier(AudioClassifier):
    """Vision-transformer classifier on the resized log-power spectrogram.

    As upstream, the embedding is the mean of all output tokens (CLS
    included) and the representation is the patch-token grid with the CLS
    token dropped: ``[B, 768, 14, 14]`` for vit-base.

    Arguments
    ---------
    embedding_model : transformers.ViTModel
        The backbone; its ``config`` gives the image and patch sizes.
    classifier : torch.nn.Module
        Head on the ``hidden_size`` embedding (ECAPA ``Classifier`` with
        ``input_size=768`` upstream).
    antialias : bool
        Antialiased resize of the spectrogram (see
        :func:`~speechbrain_piq.classifiers.image_input.spectrogram_to_image`).

    Example
    -------
    >>> from speechbrain.lobes.models.ECAPA_TDNN import Classifier
    >>> from transformers import ViTConfig, ViTModel
    >>> config = ViTConfig(
    ...     hidden_size=32,
    ...     num_hidden_layers=1,
    ...     num_attention_heads=2,
    ...     intermediate_size=64,
    ... )
    >>> model = ViTAudioClassifier(
    ...     ViTModel(config),
    ...     Classifier(input_size=32, out_neurons=10, lin_blocks=1),
    ... ).freeze()
    >>> out = model(torch.rand(2, 431, 513))
    >>> print(out.representation.shape, out.embedding.shape, out.logits.shape)
    torch.Size([2, 32, 14, 14]) torch.Size([2, 32]) torch.Size([2, 10])
    """

    resizes_input = True

    def __init__(self, embedding_model, classifier, antialias=True):
        super().__init__(embedding_model, classifier)
        self.antialias = antialias

    def encode(self, logpower):
        """Computes the patch-token grid and the mean token.

        Arguments
        ---------
        logpower : torch.Tensor
            ``[B, T, F]`` log-power spectrogram.

        Returns
        -------
        representation : torch.Tensor
            ``[B, hidden_size, side, side]`` patch tokens, with
            ``side = image_size // patch_size``.
        embedding : torch.Tensor
            ``[B, hidden_size]`` mean over all tokens.
        """
        config = self.embedding_model.config
        image = spectrogram_to_image(
            logpower, config.image_size, config.num_channels, self.antialias
        )
        # b (1 + side * side) d: the CLS token first, then patches row-major
        tokens = self.embedding_model(image).last_hidden_state
        side = config.image_size // config.patch_size
        representation = tokens[:, 1:].transpose(1, 2)
        representation = representation.reshape(len(tokens), -1, side, side)
        return representation, tokens.mean(dim=1)
