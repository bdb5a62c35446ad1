"""``bench/decoder_layers.py`` times formulations that compute the decoder
layers' own function."""

import argparse
import os
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
from decoder_layers import subpixel_conv_transpose2d, time_layer  # noqa: E402

from speechbrain_piq.lobes.models.decoder_layers import (  # noqa: E402
    GappedInputConvTranspose2d,
    MaskHeadConvTranspose2d,
)

# (kernel, stride, padding) of every transposed convolution in the conv2d
# and ViT/FocalNet decoders and the adapter's up-sampling.
DECODER_GEOMETRIES = [
    (3, (2, 2), 1),
    (4, (2, 2), 1),
    (3, (4, 5), 1),
    ((4, 1), (2, 2), 1),
    ((4, 2), (2, 2), 1),
    (12, (1, 1), 1),
    ((10, 8), (1, 1), 1),
]


def bench_args(**overrides):
    """The options ``time_layer`` reads: one CPU run without warm-up."""
    options = {
        "device": "cpu",
        "precision": "fp32",
        "channels_last": False,
        "repeats": 1,
        "warmup": 0,
        "forward_only": False,
    }
    return argparse.Namespace(**{**options, **overrides})


@pytest.mark.parametrize("kernel, stride, padding", DECODER_GEOMETRIES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_subpixel_is_the_transposed_convolution(
    kernel, stride, padding, channels_last
):
    torch.manual_seed(0)
    layer = torch.nn.ConvTranspose2d(6, 4, kernel, stride, padding)
    memory_format = (
        torch.channels_last if channels_last else torch.contiguous_format
    )
    x = torch.randn(2, 6, 7, 9).contiguous(memory_format=memory_format)
    x.requires_grad_(True)
    expected = layer(x)
    grad_output = torch.randn_like(expected)
    expected_grads = torch.autograd.grad(
        expected, (x, layer.weight, layer.bias), grad_output
    )

    found = subpixel_conv_transpose2d(
        x, layer.weight, layer.bias, layer.stride, layer.padding
    )
    assert found.shape == expected.shape
    # A cropped view, laid out as the input: channels or columns innermost.
    assert found.stride(1 if channels_last else 3) == 1
    torch.testing.assert_close(found, expected, rtol=1e-5, atol=1e-5)
    found_grads = torch.autograd.grad(
        found, (x, layer.weight, layer.bias), grad_output
    )
    for found_grad, expected_grad in zip(found_grads, expected_grads):
        torch.testing.assert_close(
            found_grad, expected_grad, rtol=1e-4, atol=1e-4
        )


def test_time_layer_reports_every_formulation_of_the_mask_head():
    head = MaskHeadConvTranspose2d(16, (3, 4))
    args = bench_args()
    nominal, results = time_layer(head, (1, 16, 6, 5), args)
    # Forward and both gradients of a 16-to-1 map with 12 taps per pixel.
    assert nominal == 3 * 2 * 16 * 12 * 6 * 5
    assert set(results) == {
        "native",
        "conv_transpose2d",
        "subpixel",
        "overlap-add",
    }
    for result in results.values():
        assert result["ms"] > 0
        assert result["deviation"] < 1e-5


def test_time_layer_gives_a_gapped_layer_gap_columns():
    layer = GappedInputConvTranspose2d(8, 8, (4, 2), (2, 2), 1, (1, 2))
    args = bench_args(channels_last=True)
    nominal, results = time_layer(layer, (2, 8, 6, 9), args)
    # The nominal work is conv_transpose2d's, whatever the layer skips.
    assert nominal == 3 * 2 * 2 * 8 * 8 * 8 * 6 * 9
    assert set(results) == {"native", "conv_transpose2d", "subpixel"}
    for result in results.values():
        assert result["deviation"] < 1e-5


def test_time_layer_forward_only_counts_the_forward():
    head = MaskHeadConvTranspose2d(16, (3, 4))
    args = bench_args(forward_only=True)
    nominal, _ = time_layer(head, (1, 16, 6, 5), args)
    assert nominal == 2 * 16 * 12 * 6 * 5
