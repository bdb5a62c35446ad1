"""The decoder layers compute upstream's transposed convolutions: outputs
and every gradient to float32 tolerance, on the inputs the decoders give
them."""

import pytest
import torch

from speechbrain_piq.lobes.models.decoder_layers import (
    GappedInputConvTranspose2d,
    MaskHeadConvTranspose2d,
)


def assert_fp32_close(got, want, msg=None):
    """Float32 agreement, absolute error scaled by the tensor's magnitude."""
    scale = max(want.abs().max().item(), 1.0)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * scale, msg=msg)


@pytest.mark.parametrize("kernel_size", [12, (10, 8)])
@pytest.mark.parametrize(
    "memory_format", [torch.contiguous_format, torch.channels_last]
)
def test_mask_head_overlap_add_equals_conv_transpose(
    kernel_size, memory_format
):
    # The overlap-add (1x1 convolution + fold, the CPU path) against
    # conv_transpose2d (the path other devices take): outputs and every
    # gradient.
    torch.manual_seed(0)
    head = MaskHeadConvTranspose2d(144, kernel_size)
    head.bias.data.fill_(0.3)
    hs = torch.randn(2, 144, 9, 13).contiguous(memory_format=memory_format)
    weights = torch.rand(
        2, 1, 9 + head.kernel_size[0] - 3, 13 + head.kernel_size[1] - 3
    )
    results = []
    for forward in (
        head.forward_by_overlap_add,
        lambda x: torch.nn.ConvTranspose2d.forward(head, x),
    ):
        head.zero_grad()
        x = hs.clone().requires_grad_(True)
        logits = forward(x)
        (logits * weights).sum().backward()
        results.append((logits, x.grad, head.weight.grad, head.bias.grad))
    for got, want in zip(*results):
        assert_fp32_close(got, want)


def test_mask_head_overlap_adds_only_with_no_more_taps_than_channels(
    monkeypatch,
):
    # Fewer channels than taps (the demo's 16-channel PSI): conv_transpose2d.
    def no_fold(*args, **kwargs):
        raise AssertionError("fold used")

    monkeypatch.setattr(torch.nn.functional, "fold", no_fold)
    small = MaskHeadConvTranspose2d(16, 12)
    small(torch.randn(1, 16, 9, 13))
    large = MaskHeadConvTranspose2d(144, 12)
    with pytest.raises(AssertionError, match="fold used"):
        large(torch.randn(1, 144, 9, 13))


def test_mask_head_refuses_other_channel_counts_like_conv_transpose():
    head = MaskHeadConvTranspose2d(160, (10, 8))
    with pytest.raises(RuntimeError, match="channels"):
        head(torch.randn(1, 80, 9, 13))


def test_mask_head_under_autocast_keeps_conv_transposes_dtype():
    torch.manual_seed(0)
    head = MaskHeadConvTranspose2d(80, (10, 8))
    hs = torch.randn(1, 80, 20, 24)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = head(hs)
        want = torch.nn.ConvTranspose2d.forward(head, hs)
    assert got.dtype == want.dtype == torch.bfloat16
    # bf16 taps (one rounding more than conv_transpose2d's single rounding
    # of its output), summed in float32: bf16-level error, within twice
    # conv_transpose2d's own.
    exact = head(hs)
    assert (got.float() - exact).abs().max() <= 2 * (
        want.float() - exact
    ).abs().max()


def gapped_chain(kernel_size, channels_last):
    """A (4, 1)-kernel, column-stride-2 transposed convolution, ReLU and
    batch norm (training mode) feeding a gapped layer, as in the ViT and
    FocalNet decoders, and the same chain with a plain layer."""
    torch.manual_seed(0)
    widen = torch.nn.Sequential(
        torch.nn.ConvTranspose2d(6, 6, (4, 1), (2, 2), 1),
        torch.nn.ReLU(),
        torch.nn.BatchNorm2d(6),
    )
    gapped = GappedInputConvTranspose2d(6, 5, kernel_size, (2, 2), 1, (1, 2))
    plain = torch.nn.ConvTranspose2d(6, 5, kernel_size, (2, 2), 1)
    plain.load_state_dict(gapped.state_dict())
    memory_format = (
        torch.channels_last if channels_last else torch.contiguous_format
    )
    for module in (widen, gapped, plain):
        module.to(memory_format=memory_format)
    x = torch.randn(2, 6, 5, 7).contiguous(memory_format=memory_format)
    return widen, gapped, plain, x


@pytest.mark.parametrize("kernel_size", [(4, 1), (4, 2)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_gapped_layer_equals_conv_transpose_with_all_gradients(
    kernel_size, channels_last
):
    widen, gapped, plain, x = gapped_chain(kernel_size, channels_last)
    results = []
    for layer in (gapped, plain):
        widen.zero_grad()
        layer.zero_grad()
        torch.manual_seed(1)
        inputs = x.clone().requires_grad_(True)
        out = layer(widen(inputs))
        (out * torch.randn_like(out)).sum().backward()
        grads = [inputs.grad, layer.weight.grad, layer.bias.grad]
        grads += [param.grad for param in widen.parameters()]
        results.append((out, *grads))
    assert results[0][0].shape == results[1][0].shape
    for got, want in zip(*results):
        assert_fp32_close(got, want)


def test_gapped_layer_keeps_the_input_layout_and_autocast_dtype():
    widen, gapped, plain, x = gapped_chain((4, 2), channels_last=True)
    with torch.no_grad():
        hidden = widen(x)
        assert gapped(hidden).is_contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got, want = gapped(hidden), plain(hidden)
    assert got.dtype == want.dtype == torch.bfloat16
    exact = plain(hidden)
    assert (got.float() - exact).abs().max() <= 4 * (
        want.float() - exact
    ).abs().max()


def test_gapped_layer_without_gap_columns_is_conv_transpose():
    # A one-column input has no gap column to read the fill from.
    layer = GappedInputConvTranspose2d(3, 2, (4, 2), (2, 2), 0, (0, 2))
    x = torch.randn(1, 3, 4, 1)
    assert_fp32_close(layer(x), torch.nn.ConvTranspose2d.forward(layer, x))


def test_gapped_layer_refuses_an_offset_outside_the_step():
    with pytest.raises(ValueError, match="offset"):
        GappedInputConvTranspose2d(3, 2, (4, 2), (2, 2), 1, (2, 2))


@pytest.mark.parametrize("offset, step", [(0, 2), (1, 2), (2, 3)])
@pytest.mark.parametrize("kernel_size", [(4, 1), (3, 3), (2, 5)])
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("width", [7, 8])
def test_gapped_layer_places_data_columns_for_any_geometry(
    offset, step, kernel_size, padding, width
):
    torch.manual_seed(0)
    layer = GappedInputConvTranspose2d(
        3, 2, kernel_size, (2, 2), padding, (offset, step)
    )
    x = torch.randn(2, 3, 1, 1).expand(2, 3, 5, width).clone()
    x[..., offset::step] = torch.randn_like(x[..., offset::step])
    results = []
    for forward in (
        layer,
        lambda x: torch.nn.ConvTranspose2d.forward(layer, x),
    ):
        layer.zero_grad()
        out = forward(x)
        torch.manual_seed(1)
        (out * torch.randn_like(out)).sum().backward()
        results.append((out, layer.weight.grad, layer.bias.grad))
    assert results[0][0].shape == results[1][0].shape
    for got, want in zip(*results):
        assert_fp32_close(got, want)
