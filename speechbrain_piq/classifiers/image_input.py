"""Feeds a spectrogram to an image backbone (ViT, FocalNet), as upstream.

Upstream resizes the ``[B, T, F]`` log-power spectrogram to the backbone's
square ``image_size`` with torchvision's bilinear ``resize`` and repeats it
over the three colour channels; no ImageNet normalisation is applied. The
resize is done here with ``torch.nn.functional.interpolate``, which is what
torchvision calls for tensors, so torchvision is not needed.
"""

import torch.nn.functional as F


def spectrogram_to_image(logpower, image_size, num_channels=3, antialias=True):
    """Resizes a spectrogram batch into a square multi-channel image batch.

    Arguments
    ---------
    logpower : torch.Tensor
        ``[B, T, F]`` log-power spectrogram.
    image_size : int
        Side of the square image the backbone expects (224 for vit-base and
        focalnet-base).
    num_channels : int
        Number of (identical) image channels.
    antialias : bool
        Low-pass before downsampling, as torchvision's ``resize`` does on
        tensors since torchvision 0.17.

    Returns
    -------
    torch.Tensor
        ``[B, num_channels, image_size, image_size]`` image; the first image
        axis is time, the second frequency.

    Example
    -------
    >>> image = spectrogram_to_image(torch.rand(2, 431, 513), 224)
    >>> print(image.shape)
    torch.Size([2, 3, 224, 224])
    """
    image = F.interpolate(
        logpower.unsqueeze(1),
        size=(image_size, image_size),
        mode="bilinear",
        align_corners=False,
        antialias=antialias,
    )
    return image.expand(-1, num_channels, -1, -1)
