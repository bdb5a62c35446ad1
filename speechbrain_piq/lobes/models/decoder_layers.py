"""PSI decoder layers: upstream's transposed convolutions, computed faster.

Each class here is an ``nn.ConvTranspose2d`` with the same parameters,
``state_dict`` and initialisation as the upstream layer it stands for, and
computes the same function (to floating-point rounding) in less time:

* ``MaskHeadConvTranspose2d``, the decoders' last layer (many channels to
  one map of mask logits), as a 1x1 convolution plus overlap-add on the CPU;
* ``GappedInputConvTranspose2d``, a transposed convolution that follows one
  whose kernel is narrower than its stride: half of its input columns hold
  one value per channel, and it convolves only the other half.

Authors
 * speechbrain-piq contributors
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class MaskHeadConvTranspose2d(nn.ConvTranspose2d):
    """The decoders' last layer: a stride-1 transposed convolution from
    ``in_channels`` maps to one map of mask logits (padding 1, as upstream's).

    It is ``nn.ConvTranspose2d(in_channels, 1, kernel_size, 1, 1)`` with the
    same parameters and ``state_dict``. On the CPU, when the kernel has no
    more taps than there are input channels (every recipe: 256-1024
    channels, 80 or 144 taps), it computes the same function as a 1x1
    convolution to the kernel's taps followed by their overlap-add
    (``fold``): there ``conv_transpose2d`` to a single channel runs at a few
    GFLOP/s, and this is 2-9x faster, forward and backward
    (``bench/latency_parts.py``). With fewer channels than taps the taps
    would outweigh the input, and ``conv_transpose2d`` is faster; other
    devices use it too. Under autocast the taps are summed in float32.

    Arguments
    ---------
    in_channels : int
        Channels of the decoder's last feature map.
    kernel_size : int or tuple
        Kernel height and width.

    Example
    -------
    >>> _ = torch.manual_seed(0)
    >>> head = MaskHeadConvTranspose2d(80, (10, 8))
    >>> head.overlap_add
    True
    >>> x = torch.randn(2, 80, 20, 30)
    >>> logits = head(x)
    >>> print(logits.shape)
    torch.Size([2, 1, 27, 35])
    >>> native = nn.ConvTranspose2d.forward(head, x)
    >>> print(torch.allclose(logits, native, atol=1e-4))
    True
    """

    def __init__(self, in_channels, kernel_size):
        super().__init__(in_channels, 1, kernel_size, stride=1, padding=1)
        taps = self.kernel_size[0] * self.kernel_size[1]
        self.overlap_add = in_channels >= taps

    def forward(self, x):
        """Mask logits ``[B, 1, H + kh - 3, W + kw - 3]`` from ``[B, C, H, W]``.

        Arguments
        ---------
        x : torch.Tensor
            The decoder's last feature map.

        Returns
        -------
        torch.Tensor
        """
        if x.device.type != "cpu" or not self.overlap_add:
            return super().forward(x)
        return self.forward_by_overlap_add(x)

    def forward_by_overlap_add(self, x):
        """The same logits as a 1x1 convolution to the kernel's taps and
        their overlap-add, on any device (``forward`` chooses).

        Arguments
        ---------
        x : torch.Tensor
            The decoder's last feature map, ``[B, C, H, W]``.

        Returns
        -------
        torch.Tensor
        """
        batch, _, height, width = x.shape
        kernel_height, kernel_width = self.kernel_size
        taps = F.conv2d(
            x, self.weight.reshape(self.in_channels, -1, 1, 1).transpose(0, 1)
        )
        output_size = (
            height + kernel_height - 1 - 2 * self.padding[0],
            width + kernel_width - 1 - 2 * self.padding[1],
        )
        logits = F.fold(
            taps.reshape(batch, -1, height * width).float(),
            output_size,
            self.kernel_size,
            padding=self.padding,
        )
        return (logits + self.bias.view(1, -1, 1, 1)).to(taps.dtype)


def _tap_matrix(
    out_size, in_size, kernel_size, stride, padding, keep=None, device=None
):
    """Which kernel tap reaches which output position along one axis of a
    transposed convolution: ``[out_size, kernel_size]`` of 0/1, where entry
    ``(o, t)`` is 1 when input position ``i = (o + padding - t) / stride``
    is a whole number in ``[0, in_size)`` (and ``keep[i]``, when given), on
    ``device``.

    Example
    -------
    >>> print(_tap_matrix(4, 2, 2, 2, 0).int().tolist())
    [[1, 0], [0, 1], [1, 0], [0, 1]]
    """
    outputs = torch.arange(out_size, device=device).view(-1, 1)
    taps = torch.arange(kernel_size, device=device).view(1, -1)
    source = outputs + padding - taps
    inside = (source >= 0) & (source < in_size * stride)
    reached = inside & (source % stride == 0)
    if keep is not None:
        reached &= keep[(source // stride).clamp(0, in_size - 1)]
    return reached.float()


class GappedInputConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution whose input has gap columns: only every
    ``step``-th column from ``offset`` carries data; every other column
    holds one value per channel and clip, in all rows.

    The ViT/FocalNet decoder makes such inputs: a transposed convolution
    with a kernel one column wide and a column stride of 2 writes only its
    bias into every other output column, and the ReLU and batch norm after
    it keep those columns at one value per channel. Upstream's next
    transposed convolution convolves them all the same; this layer
    convolves the data columns only (half the work) and adds the gap
    columns' share in closed form: their value times the kernel taps that
    reach each output position. It is ``nn.ConvTranspose2d`` with the same
    parameters and ``state_dict``, and the same function of such inputs
    (outputs to float rounding; every parameter gradient of the decoder
    alike, the gap columns' input gradient being gathered on their first
    position). It must only be given such inputs: the decoder that builds
    it guarantees them.

    Arguments
    ---------
    in_channels, out_channels : int
        As ``nn.ConvTranspose2d``'s.
    kernel_size, stride, padding : int or tuple
        As ``nn.ConvTranspose2d``'s.
    data_columns : tuple of int
        ``(offset, step)``: the input columns ``offset, offset + step, ...``
        carry data; the others are gap columns.

    Example
    -------
    >>> widen = nn.Sequential(
    ...     nn.ConvTranspose2d(4, 4, (4, 1), (2, 2), 1), nn.ReLU(), nn.BatchNorm2d(4)
    ... )
    >>> _ = torch.manual_seed(0)
    >>> x = widen(torch.randn(2, 4, 5, 6))  # columns 0, 2, 4... are gaps
    >>> layer = GappedInputConvTranspose2d(4, 3, (4, 2), (2, 2), 1, (1, 2))
    >>> out = layer(x)
    >>> print(out.shape)
    torch.Size([2, 3, 20, 16])
    >>> print(torch.allclose(out, nn.ConvTranspose2d.forward(layer, x), atol=1e-5))
    True
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride,
        padding,
        data_columns,
    ):
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding
        )
        self.data_offset, self.data_step = data_columns
        if not 0 <= self.data_offset < self.data_step:
            raise ValueError(
                f"data_columns {data_columns}: the offset must lie in [0, step)"
            )

    def forward(self, x):
        """The transposed convolution of ``x`` ``[B, C_in, H, W]``.

        Arguments
        ---------
        x : torch.Tensor
            An input with gap columns (see the class).

        Returns
        -------
        torch.Tensor
            ``[B, C_out, H', W']``, as ``nn.ConvTranspose2d`` gives.
        """
        gap_column = (self.data_offset + 1) % self.data_step
        if x.shape[3] <= gap_column:
            return super().forward(x)
        return self._add_gap_share(
            self._data_share(x), x[:, :, 0, gap_column], x.shape
        )

    def _data_share(self, x):
        """The data columns' contribution (no bias), ``[B, C_out, H', W']``:
        one transposed convolution of the data columns alone, with ``step``
        times the column stride, shifted to where the full layer puts data
        column ``j``: ``stride * (offset + step * j) + tap - padding``."""
        kernel_w, stride_w = self.kernel_size[1], self.stride[1]
        share = F.conv_transpose2d(
            x[..., self.data_offset :: self.data_step],
            self.weight,
            None,
            (self.stride[0], stride_w * self.data_step),
            (self.padding[0], 0),
        )
        first = stride_w * self.data_offset - self.padding[1]
        out_w = (x.shape[3] - 1) * stride_w - 2 * self.padding[1] + kernel_w
        # Negative pads crop.
        return F.pad(share, (first, out_w - first - share.shape[3]))

    def _add_gap_share(self, data_share, fill, in_shape):
        """``data_share`` plus the bias and the gap columns' contribution:
        ``fill`` ``[B, C_in]`` times the kernel taps that reach each output
        position from a gap column, summed in one matrix product over the
        taps (the bias is one more tap, reaching everywhere)."""
        batch, _, height, width = in_shape
        _, channels, out_h, out_w = data_share.shape
        (kernel_h, kernel_w), (stride_h, stride_w) = (
            self.kernel_size,
            self.stride,
        )
        device = data_share.device
        is_gap = torch.ones(width, dtype=torch.bool, device=device)
        is_gap[self.data_offset :: self.data_step] = False
        rows = _tap_matrix(
            out_h, height, kernel_h, stride_h, self.padding[0], device=device
        )
        columns = _tap_matrix(
            out_w,
            width,
            kernel_w,
            stride_w,
            self.padding[1],
            keep=is_gap,
            device=device,
        )
        columns = torch.cat([columns, torch.ones_like(columns[:, :1])], dim=1)
        per_tap = torch.einsum("bi,iokl->bokl", fill, self.weight)
        rows = rows.to(per_tap)
        columns = columns.to(per_tap)
        bias = self.bias.to(per_tap.dtype)
        if data_share.is_contiguous(memory_format=torch.channels_last):
            by_row = torch.einsum("hk,bokl->bhlo", rows, per_tap)
            by_row = torch.cat(
                [by_row, bias.expand(batch, out_h, 1, channels)], dim=2
            )
            out = torch.baddbmm(
                data_share.permute(0, 2, 3, 1).reshape(-1, out_w, channels),
                columns.expand(batch * out_h, -1, -1),
                by_row.reshape(batch * out_h, kernel_w + 1, channels),
            )
            return out.view(batch, out_h, out_w, channels).permute(0, 3, 1, 2)
        by_row = torch.einsum("hk,bokl->bohl", rows, per_tap)
        by_row = torch.cat(
            [by_row, bias.view(1, -1, 1, 1).expand(batch, -1, out_h, 1)], dim=3
        )
        out = torch.addmm(
            data_share.reshape(-1, out_w),
            by_row.reshape(-1, kernel_w + 1),
            columns.t(),
        )
        return out.view(batch, channels, out_h, out_w)
