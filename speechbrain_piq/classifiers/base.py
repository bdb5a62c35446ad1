"""The interface PIQ calls, shared by every classifier backbone.

A classifier is an ``embedding_model`` (the backbone, e.g. upstream's
``Conv2dEncoder_v2`` or a transformers ViT) followed by a ``classifier`` head
(SpeechBrain's ECAPA ``Classifier``), the two modules upstream checkpoints
store as ``embedding_model.ckpt`` and ``classifier.ckpt``. Each backbone adapter
only says how to turn a log-power spectrogram into a representation map and an
embedding; the head, the output format, freezing and class-count checks live
here once.
"""

import torch

from speechbrain_piq.classifiers.output import ClassifierOutput


class AudioClassifier(torch.nn.Module):
    """Base class: log-power STFT in, :class:`ClassifierOutput` out.

    Subclasses implement :meth:`encode`. The head is called on the embedding
    as ``[B, 1, D]`` (SpeechBrain's batch-time-feature layout), so both the
    ECAPA ``Classifier`` and a plain ``torch.nn.Linear`` work.

    Arguments
    ---------
    embedding_model : torch.nn.Module
        Backbone, loaded from ``embedding_model.ckpt``.
    classifier : torch.nn.Module
        Classification head whose ``weight`` is ``[n_classes, D]``, loaded from
        ``classifier.ckpt``.

    Example
    -------
    >>> class MeanPool(AudioClassifier):
    ...     def encode(self, logpower):
    ...         representation = self.embedding_model(logpower.unsqueeze(1))
    ...         return representation, representation.mean(dim=(-1, -2))
    >>> model = MeanPool(
    ...     torch.nn.Conv2d(1, 8, 4, 4), torch.nn.Linear(8, 5, bias=False)
    ... )
    >>> out = model(torch.rand(2, 431, 513))
    >>> print(out.representation.shape, out.embedding.shape, out.logits.shape)
    torch.Size([2, 8, 107, 128]) torch.Size([2, 8]) torch.Size([2, 5])
    >>> model.n_classes
    5
    """

    # Whether the backbone sees the spectrogram resized to a fixed image
    # (ViT, FocalNet): PSI's map then covers the whole clip, whatever its
    # length (see ``speechbrain_piq.interpretation.common_region``).
    resizes_input = False

    def __init__(self, embedding_model, classifier):
        super().__init__()
        self.embedding_model = embedding_model
        self.classifier = classifier
        self.frozen = False

    @property
    def n_classes(self):
        """Number of classes the head scores (rows of its ``weight``)."""
        return self.classifier.weight.shape[0]

    def encode(self, logpower):
        """Computes the representation map and the pooled embedding.

        Arguments
        ---------
        logpower : torch.Tensor
            ``[B, T, F]`` log-power spectrogram.

        Returns
        -------
        representation : torch.Tensor
            ``[B, C, H, W]`` map.
        embedding : torch.Tensor
            ``[B, D]`` pooled embedding.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement encode(logpower)"
        )

    def forward(self, logpower):
        """Classifies a batch of log-power spectrograms.

        Arguments
        ---------
        logpower : torch.Tensor
            ``[B, T, F]`` log-power spectrogram, as computed by
            :class:`speechbrain_piq.features.LogPowerSpectrogram`.

        Returns
        -------
        ClassifierOutput
            ``(representation, embedding, logits)``.
        """
        if logpower.dim() != 3:
            raise ValueError(
                f"{type(self).__name__} expects a log-power spectrogram "
                f"[batch, time, freq], got shape {tuple(logpower.shape)}; "
                "compute it with speechbrain_piq.features.LogPowerSpectrogram"
            )
        representation, embedding = self.encode(logpower)
        logits = self.classifier(embedding.unsqueeze(1)).squeeze(1)
        return ClassifierOutput(representation, embedding, logits)

    def freeze(self):
        """Freezes the classifier for interpretation and returns it.

        Its weights stop receiving gradients (gradients still flow to its
        input) and it stays in eval mode even when a ``Brain`` later calls
        ``.train()`` on it, so batch-norm statistics never drift while PIQ
        trains on its outputs.

        Returns
        -------
        AudioClassifier
            ``self``, frozen and in eval mode.

        Example
        -------
        >>> model = AudioClassifier(torch.nn.Identity(), torch.nn.Linear(4, 2))
        >>> model = model.freeze().train()
        >>> model.training, model.classifier.weight.requires_grad
        (False, False)
        """
        self.requires_grad_(False)
        self.frozen = True
        return self.eval()

    def train(self, mode=True):
        """Sets training mode, except that a frozen classifier stays in eval.

        Arguments
        ---------
        mode : bool
            ``True`` for training mode.

        Returns
        -------
        AudioClassifier
            ``self``.
        """
        return super().train(mode and not self.frozen)


def check_num_classes(audio_classifier, out_n_neurons):
    """Raises a clear error when the classifier and hparams disagree.

    Arguments
    ---------
    audio_classifier : AudioClassifier
        The classifier to check.
    out_n_neurons : int
        Number of classes the hparams expect.

    Raises
    ------
    ValueError
        If ``audio_classifier.n_classes != out_n_neurons``.

    Example
    -------
    >>> model = AudioClassifier(torch.nn.Identity(), torch.nn.Linear(4, 10))
    >>> check_num_classes(model, 10)
    >>> check_num_classes(model, 50)
    Traceback (most recent call last):
    ...
    ValueError: classifier has 10 outputs but hparams say out_n_neurons: 50; ...
    """
    n_classes = audio_classifier.n_classes
    if n_classes != out_n_neurons:
        raise ValueError(
            f"classifier has {n_classes} outputs but hparams say "
            f"out_n_neurons: {out_n_neurons}; set out_n_neurons: {n_classes} "
            f"or use a classifier trained on {out_n_neurons} classes"
        )
