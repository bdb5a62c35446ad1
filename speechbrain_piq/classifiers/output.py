"""What every audio classifier here returns, whatever its backbone."""

from typing import NamedTuple

import torch


class ClassifierOutput(NamedTuple):
    """The three things PIQ reads from a classifier.

    Attributes
    ----------
    representation : torch.Tensor
        ``[B, C, H, W]`` map that PIQ quantizes and decodes into a mask.
    embedding : torch.Tensor
        ``[B, D]`` pooled embedding the classification head sees.
    logits : torch.Tensor
        ``[B, n_classes]`` class scores (cosine similarities for SpeechBrain's
        ECAPA ``Classifier``); their ``argmax`` is the predicted class.

    Example
    -------
    >>> out = ClassifierOutput(
    ...     torch.zeros(2, 256, 26, 32), torch.zeros(2, 256), torch.zeros(2, 10)
    ... )
    >>> print(out.logits.shape)
    torch.Size([2, 10])
    """

    representation: torch.Tensor
    embedding: torch.Tensor
    logits: torch.Tensor
