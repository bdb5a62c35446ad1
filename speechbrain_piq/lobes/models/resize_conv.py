"""A PSI decoder without checkerboard artifacts: resize, then convolve.

A transposed convolution whose kernel size is not a multiple of its stride
adds its taps unevenly across output positions, and the decoder's masks show
the pattern (Odena et al., "Deconvolution and Checkerboard Artifacts",
Distill 2016). ``ResizeConvDecoder`` replaces each such layer by a
nearest-neighbour resize to the same output size followed by a 3x3
convolution, and halves the channels at each doubling of resolution, so its
masks have the transposed decoder's shape at a fraction of its cost.

Authors
 * speechbrain-piq contributors
"""

import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.utils import _pair

# Channels never drop below this (or below the representation's own).
MIN_CHANNELS = 16


def transposed_output_size(size, geometry):
    """The output height and width of a stack of transposed convolutions.

    Arguments
    ---------
    size : tuple
        Input height and width.
    geometry : sequence
        ``(kernel_size, stride, padding)`` of each layer (ints or pairs).

    Returns
    -------
    list of tuple
        The height and width after each layer.

    Example
    -------
    >>> transposed_output_size((16, 16), [(3, 2, 1), (4, 2, 1)])
    [(31, 31), (62, 62)]
    """
    sizes = []
    for kernel, stride, padding in geometry:
        size = tuple(
            (length - 1) * s - 2 * p + k
            for length, k, s, p in zip(
                size, _pair(kernel), _pair(stride), _pair(padding)
            )
        )
        sizes.append(size)
    return sizes


class ResizeConvDecoder(nn.Module):
    """Mask logits from a representation map, by resize + convolution.

    For the transposed-convolution stack described by ``geometry``, each
    layer but the last becomes nearest resize (to that layer's output size)
    + 3x3 convolution + ReLU + batch norm, and the last (the mask head)
    resize + 3x3 convolution to one channel. The output has the stack's
    shape for any input size. Layer ``i`` has ``max(dim / 2**(i + 1),
    min(dim, 16))`` channels.

    Arguments
    ---------
    dim : int
        Channels of the input representation.
    geometry : sequence
        ``(kernel_size, stride, padding)`` of each transposed layer it
        stands for, the mask head last.

    Example
    -------
    >>> import torch
    >>> geometry = [(3, 2, 1), (4, 2, 1), (4, 2, 1), (4, 2, 1), (12, 1, 1)]
    >>> decoder = ResizeConvDecoder(64, geometry)
    >>> decoder(torch.randn(2, 64, 16, 16)).shape
    torch.Size([2, 1, 257, 257])
    """

    def __init__(self, dim, geometry):
        super().__init__()
        self.geometry = [tuple(layer) for layer in geometry]
        floor = min(dim, MIN_CHANNELS)
        channels = [dim] + [
            max(dim >> (i + 1), floor) for i in range(len(geometry) - 1)
        ]
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1),
                nn.ReLU(),
                nn.BatchNorm2d(c_out),
            )
            for c_in, c_out in zip(channels[:-1], channels[1:])
        )
        self.head = nn.Conv2d(channels[-1], 1, 3, padding=1)

    def forward(self, x):
        """Mask logits ``[B, 1, H', W']`` from ``[B, dim, H, W]``.

        Arguments
        ---------
        x : torch.Tensor
            The (quantized) representation.

        Returns
        -------
        torch.Tensor
        """
        sizes = transposed_output_size(x.shape[2:], self.geometry)
        for block, size in zip(self.blocks, sizes):
            x = block(F.interpolate(x, size=size, mode="nearest"))
        return self.head(F.interpolate(x, size=sizes[-1], mode="nearest"))
