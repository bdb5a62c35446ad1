"""Posthoc Interpretation via Quantization (PIQ) for audio classifiers.

A drop-in replacement of ``speechbrain.lobes.models.PIQ``: the same classes,
argument names, defaults and ``state_dict`` keys (checkpoints load both ways
with ``strict=True``), with upstream's defects fixed (see each docstring and
``speechbrain_piq.lobes.models.quantization``).

Contents: a convolutional encoder that extracts classification embeddings
from log spectra, a residual block, the VQ dictionary and its two autograd
functions, and three decoders (generic, FocalNet, ViT) that map a
classifier's representation to mask logits over the log-power spectrogram
(their layers are upstream's transposed convolutions, some computed faster by
``speechbrain_piq.lobes.models.decoder_layers``; beside upstream's API).

Paper: Paissan, Subakan & Ravanelli, "Posthoc Interpretation via
Quantization", arXiv 2303.12659.

Authors
 * speechbrain-piq contributors, after Cem Subakan and Francesco Paissan
"""

import torch.nn as nn

from speechbrain_piq.lobes.models.decoder_layers import (
    GappedInputConvTranspose2d,
    MaskHeadConvTranspose2d,
)
from speechbrain_piq.lobes.models.quantization import (
    VectorQuantization,
    VectorQuantizationStraightThrough,
    VQEmbedding,
    get_irrelevant_regions,
)
from speechbrain_piq.lobes.models.resize_conv import ResizeConvDecoder

__all__ = [
    "get_irrelevant_regions",
    "weights_init",
    "VectorQuantization",
    "VectorQuantizationStraightThrough",
    "VQEmbedding",
    "Conv2dEncoder_v2",
    "ResBlockAudio",
    "VectorQuantizedPSI_Audio",
    "VectorQuantizedPSIFocalNet_Audio",
    "VectorQuantizedPSIViT_Audio",
]


def weights_init(m):
    """Xavier-uniform initialisation of convolution weights, zero biases.

    Meant for ``module.apply(weights_init)``; modules that are not
    convolutions are left untouched.

    Arguments
    ---------
    m : torch.nn.Module
        The module to initialise.

    Example
    -------
    >>> conv = nn.Conv2d(1, 4, 3)
    >>> weights_init(conv)
    >>> print(conv.bias.abs().sum().item())
    0.0
    """
    if "Conv" not in type(m).__name__ or not hasattr(m, "weight"):
        return
    nn.init.xavier_uniform_(m.weight.data)
    if m.bias is not None:
        m.bias.data.fill_(0)


class ResBlockAudio(nn.Module):
    """Residual block: ``x + conv1x1(relu(bn(conv3x3(x))))``, batch-normed.

    Arguments
    ---------
    dim : int
        Input channels, equal to the output channels.

    Example
    -------
    >>> res = ResBlockAudio(128)
    >>> x = torch.randn(2, 128, 16, 16)
    >>> print(res(x).shape)
    torch.Size([2, 128, 16, 16])
    """

    def __init__(self, dim):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1),
            nn.BatchNorm2d(dim),
            nn.ReLU(True),
            nn.Conv2d(dim, dim, 1),
            nn.BatchNorm2d(dim),
        )

    def forward(self, x):
        """Applies the block.

        Arguments
        ---------
        x : torch.Tensor
            ``[B, C, H, W]`` input.

        Returns
        -------
        torch.Tensor
            ``[B, C, H, W]`` output.
        """
        return x + self.block(x)


class Conv2dEncoder_v2(nn.Module):
    """Convolutional encoder from log spectra to classification embeddings.

    Four stride-2 convolutions (each batch-normed, ReLU) and a residual
    block: a ``[B, T, F]`` log spectrogram becomes a ``[B, dim, T/16, F/16]``
    representation map.

    Arguments
    ---------
    dim : int
        Channels of the extracted embeddings.

    Example
    -------
    >>> inputs = torch.ones(3, 431, 513)
    >>> model = Conv2dEncoder_v2()
    >>> print(model(inputs).shape)
    torch.Size([3, 256, 26, 32])
    """

    def __init__(self, dim=256):
        super().__init__()
        self.conv1 = nn.Conv2d(1, dim, 4, 2, 1)
        self.bn1 = nn.BatchNorm2d(dim)
        self.conv2 = nn.Conv2d(dim, dim, 4, 2, 1)
        self.bn2 = nn.BatchNorm2d(dim)
        self.conv3 = nn.Conv2d(dim, dim, 4, 2, 1)
        self.bn3 = nn.BatchNorm2d(dim)
        self.conv4 = nn.Conv2d(dim, dim, 4, 2, 1)
        self.bn4 = nn.BatchNorm2d(dim)
        self.resblock = ResBlockAudio(dim)
        self.nonl = nn.ReLU()

    def forward(self, x):
        """Encodes a log spectrogram.

        Arguments
        ---------
        x : torch.Tensor
            Log-power spectrogram, ``[B, T, F]``.

        Returns
        -------
        torch.Tensor
            Representation map, ``[B, dim, H, W]``.
        """
        h = x.unsqueeze(1)
        for conv, bn in (
            (self.conv1, self.bn1),
            (self.conv2, self.bn2),
            (self.conv3, self.bn3),
            (self.conv4, self.bn4),
        ):
            h = self.nonl(bn(conv(h)))
        return self.resblock(h)


# (kernel_size, stride, padding) of each transposed decoder layer, mask
# head last: the shapes a ``decoder="resize_conv"`` decoder reproduces.
CONV2D_DECODER_GEOMETRY = (
    (3, 2, 1),
    (4, 2, 1),
    (4, 2, 1),
    (4, 2, 1),
    (12, 1, 1),
)
TRANSFORMER_DECODER_GEOMETRY = (
    (3, (4, 5), 1),
    ((4, 1), 2, 1),
    ((4, 1), 2, 1),
    ((4, 2), 2, 1),
    ((10, 8), 1, 1),
)
# What the PSI lobes' ``decoder`` argument may name.
DECODERS = ("transposed", "resize_conv")


def _conv2d_decoder(dim):
    """Decoder from a conv2d representation to mask logits (upstream's)."""
    return nn.Sequential(
        nn.ConvTranspose2d(dim, dim, 3, (2, 2), 1),
        nn.ReLU(True),
        nn.BatchNorm2d(dim),
        nn.ConvTranspose2d(dim, dim, 4, (2, 2), 1),
        nn.ReLU(),
        nn.BatchNorm2d(dim),
        nn.ConvTranspose2d(dim, dim, 4, (2, 2), 1),
        nn.ReLU(),
        nn.BatchNorm2d(dim),
        nn.ConvTranspose2d(dim, dim, 4, (2, 2), 1),
        nn.ReLU(),
        nn.BatchNorm2d(dim),
        MaskHeadConvTranspose2d(dim, 12),
    )


def _transformer_decoder(dim):
    """Decoder from a ViT/FocalNet representation to mask logits (upstream's
    ``piq_vit`` / ``piq_focalnet`` geometry, identical for both).

    Its (4, 1)-kernel layers, with column stride 2, write only their bias
    into the even output columns, so the next layer gets gap columns there
    and convolves the odd ones only (``GappedInputConvTranspose2d``).
    """
    odd_columns = (1, 2)
    return nn.Sequential(
        nn.ConvTranspose2d(dim, dim, 3, (4, 5), 1),
        nn.ReLU(),
        nn.BatchNorm2d(dim),
        nn.ConvTranspose2d(dim, dim, (4, 1), (2, 2), 1),
        nn.ReLU(),
        nn.BatchNorm2d(dim),
        GappedInputConvTranspose2d(dim, dim, (4, 1), (2, 2), 1, odd_columns),
        nn.ReLU(),
        nn.BatchNorm2d(dim),
        GappedInputConvTranspose2d(dim, dim, (4, 2), (2, 2), 1, odd_columns),
        nn.ReLU(),
        nn.BatchNorm2d(dim),
        MaskHeadConvTranspose2d(dim, (10, 8)),
    )


class VectorQuantizedPSI_Audio(nn.Module):
    """PSI: maps a classifier's representation to log-spectrogram mask logits
    through a class-partitioned VQ bottleneck.

    Arguments
    ---------
    dim : int
        Size of the VQ vectors (the representation's channels).
    K : int
        Dictionary size.
    numclasses : int
        Number of classes.
    activate_class_partitioning : bool
        Class-partitioned latent space.
    shared_keys : int
        Keys shared among classes.
    use_adapter : bool
        Learn a residual adapter on the classifier's representations.
    adapter_reduce_dim : bool
        The adapter halves the representation's height and width before
        quantization (and a transposed convolution restores them). Only
        used with ``use_adapter`` (upstream crashes on the other
        combination).
    decoder : str
        ``"transposed"`` (upstream's transposed convolutions, the same
        ``state_dict``) or ``"resize_conv"`` (``ResizeConvDecoder``: the
        same mask shape, no checkerboard pattern, far fewer FLOPs).

    Example
    -------
    >>> psi = VectorQuantizedPSI_Audio(dim=256, K=1024)
    >>> x = torch.randn(2, 256, 16, 16)
    >>> labels = torch.Tensor([0, 2])
    >>> logspectra, hcat, z_q_x = psi(x, labels)
    >>> print(logspectra.shape, hcat.shape, z_q_x.shape)
    torch.Size([2, 1, 257, 257]) torch.Size([2, 256, 8, 8]) torch.Size([2, 256, 8, 8])
    >>> smooth = VectorQuantizedPSI_Audio(dim=256, K=1024, decoder="resize_conv")
    >>> smooth(x, labels)[0].shape
    torch.Size([2, 1, 257, 257])
    """

    decoder_geometry = CONV2D_DECODER_GEOMETRY

    def __init__(
        self,
        dim=128,
        K=512,
        numclasses=50,
        activate_class_partitioning=True,
        shared_keys=0,
        use_adapter=True,
        adapter_reduce_dim=True,
        decoder="transposed",
    ):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(
                f"decoder is {decoder!r}; use one of {', '.join(DECODERS)}."
            )
        self.dim = dim
        self.codebook = VQEmbedding(
            K,
            dim,
            numclasses=numclasses,
            activate_class_partitioning=activate_class_partitioning,
            shared_keys=shared_keys,
        )
        self.use_adapter = use_adapter
        self.adapter_reduce_dim = adapter_reduce_dim and use_adapter
        if use_adapter:
            self.adapter = ResBlockAudio(dim)
            if self.adapter_reduce_dim:
                self.down = nn.Conv2d(dim, dim, 4, (2, 2), 1)
                self.up = nn.ConvTranspose2d(dim, dim, 4, (2, 2), 1)
        if decoder == "transposed":
            self.decoder = self.build_decoder(dim)
        else:
            self.decoder = ResizeConvDecoder(dim, self.decoder_geometry)
        self.apply(weights_init)

    @staticmethod
    def build_decoder(dim):
        """The decoder from the (quantized) representation to mask logits.

        Arguments
        ---------
        dim : int
            Channels of the representation.

        Returns
        -------
        torch.nn.Module
            Maps ``[B, dim, H, W]`` to ``[B, 1, H', W']``.
        """
        return _conv2d_decoder(dim)

    def forward(self, hs, labels):
        """Reconstructs mask logits from the keys of the predicted class.

        Arguments
        ---------
        hs : torch.Tensor
            Classifier's representation, ``[B, dim, H, W]``.
        labels : torch.Tensor
            Predicted class of each clip, ``[B]``.

        Returns
        -------
        x_tilde : torch.Tensor
            Log-power spectrogram (or mask logits), ``[B, 1, H', W']``.
        hcat : torch.Tensor
            The (reduced) representation before quantization.
        z_q_x : torch.Tensor
            Its quantized version (carries the dictionary's gradient).
        """
        if hs.ndim != 4:
            raise ValueError(
                f"{type(self).__name__} expects a classifier representation "
                f"of shape [B, C, H, W], got {tuple(hs.shape)}."
            )
        if hs.shape[1] != self.dim:
            raise ValueError(
                f"the classifier representation has {hs.shape[1]} channels "
                f"but {type(self).__name__} was built with dim={self.dim}: "
                f"set dim: {hs.shape[1]}."
            )
        hcat = self.adapter(hs) if self.use_adapter else hs
        if self.adapter_reduce_dim:
            hcat = self.down(hcat)
        z_q_x_st, z_q_x = self.codebook.straight_through(hcat, labels)
        if self.adapter_reduce_dim:
            z_q_x_st = self.up(z_q_x_st)
        return self.decoder(z_q_x_st), hcat, z_q_x


class VectorQuantizedPSIFocalNet_Audio(VectorQuantizedPSI_Audio):
    """PSI with a decoder sized for a FocalNet classifier's representations.

    Arguments
    ---------
    dim : int
        Size of the VQ vectors.
    **kwargs : dict
        See ``VectorQuantizedPSI_Audio``.

    Example
    -------
    >>> psi = VectorQuantizedPSIFocalNet_Audio(dim=256, K=1024)
    >>> x = torch.randn(2, 256, 16, 16)
    >>> labels = torch.Tensor([0, 2])
    >>> logspectra, hcat, z_q_x = psi(x, labels)
    >>> print(logspectra.shape, hcat.shape, z_q_x.shape)
    torch.Size([2, 1, 495, 593]) torch.Size([2, 256, 8, 8]) torch.Size([2, 256, 8, 8])
    """

    def __init__(self, dim=1024, **kwargs):
        super().__init__(dim=dim, **kwargs)

    build_decoder = staticmethod(_transformer_decoder)
    decoder_geometry = TRANSFORMER_DECODER_GEOMETRY


class VectorQuantizedPSIViT_Audio(VectorQuantizedPSI_Audio):
    """PSI with a decoder sized for a ViT classifier's representations.

    Arguments
    ---------
    dim : int
        Size of the VQ vectors.
    **kwargs : dict
        See ``VectorQuantizedPSI_Audio``.

    Example
    -------
    >>> psi = VectorQuantizedPSIViT_Audio(dim=256, K=1024)
    >>> x = torch.randn(2, 256, 16, 16)
    >>> labels = torch.Tensor([0, 2])
    >>> logspectra, hcat, z_q_x = psi(x, labels)
    >>> print(logspectra.shape, hcat.shape, z_q_x.shape)
    torch.Size([2, 1, 495, 593]) torch.Size([2, 256, 8, 8]) torch.Size([2, 256, 8, 8])
    """

    def __init__(self, dim=768, **kwargs):
        super().__init__(dim=dim, **kwargs)

    build_decoder = staticmethod(_transformer_decoder)
    decoder_geometry = TRANSFORMER_DECODER_GEOMETRY
