"""Each PSI decoder layer's forward + backward time, as the lobe runs it and
in candidate formulations of the same function.

PSI's decoder (transposed convolutions up to the full spectrogram) is most
of a training step's work (``bench/flops.py``), and a GPU runs transposed
convolutions far below its convolution throughput. For every transposed
convolution in a backbone's decoder (recipe sizes, the recipe's batch),
this times forward + backward, with gradients for the input and weights
(``--forward-only``: the forward alone, as in inference):

* ``native``: the layer as the lobe runs it (``GappedInputConvTranspose2d``
  convolves only its input's data columns; the mask head makes its own
  choice on the CPU), on an input with the decoder's gap columns;
* ``conv_transpose2d``: upstream's layer;
* ``subpixel``: one stride-1 convolution to every output phase (stride
  height x stride width x out channels), then a pixel shuffle and a crop
  (kernels that are no multiple of the stride are padded with zero taps);
* ``overlap-add`` (the mask head): a 1x1 convolution to the kernel's taps
  and their ``fold``, as ``MaskHeadConvTranspose2d`` does on the CPU;

and prints milliseconds, the TFLOP/s each reaches on the layer's nominal
work, and each candidate's largest deviation from ``conv_transpose2d``
relative to the output's scale. A candidate that is faster here on a device
is the next change to the lobe for that device.

    python bench/decoder_layers.py --configs conv2d     # GPU when available
    python bench/decoder_layers.py --precision bf16 --channels-last \\
        --cudnn-benchmark
    python bench/decoder_layers.py --device cpu --batch-size 1 --repeats 3
"""

import contextlib
import datetime

import torch
import torch.nn.functional as F
from flops import count_flops
from step_setup import (
    CONFIGS,
    bench_parser,
    build_interpreter,
    device_name,
    piq_defaults,
)
from train_step import median_ms

from speechbrain_piq.lobes.models import PIQ
from speechbrain_piq.lobes.models.decoder_layers import (
    GappedInputConvTranspose2d,
)


def subpixel_conv_transpose2d(x, weight, bias, stride, padding):
    """``conv_transpose2d`` (one group, no dilation or output padding) as a
    stride-1 convolution to every output phase and a pixel shuffle.

    Output row ``o`` of phase ``(o + padding) % stride`` only meets the
    kernel taps of that phase, so each phase is an ordinary convolution
    with ``kernel / stride`` taps per dimension (flipped); one convolution
    computes all phases as channels, and interleaving them (a pixel
    shuffle) and cropping the padding gives the transposed convolution.

    Arguments
    ---------
    x : torch.Tensor
        ``[B, C_in, H, W]`` input.
    weight : torch.Tensor
        ``[C_in, C_out, kh, kw]`` transposed-convolution weight.
    bias : torch.Tensor or None
        ``[C_out]``.
    stride, padding : tuple of int
        As the transposed convolution's.

    Returns
    -------
    torch.Tensor
        ``[B, C_out, (H - 1) * sh - 2 * ph + kh, (W - 1) * sw - 2 * pw + kw]``,
        channels-last when ``x`` is.

    Example
    -------
    >>> layer = torch.nn.ConvTranspose2d(3, 2, (4, 1), (2, 2), 1)
    >>> x = torch.randn(1, 3, 5, 6)
    >>> found = subpixel_conv_transpose2d(
    ...     x, layer.weight, layer.bias, layer.stride, layer.padding
    ... )
    >>> print(found.shape, torch.allclose(found, layer(x), atol=1e-6))
    torch.Size([1, 2, 10, 9]) True
    """
    in_channels, out_channels, kernel_h, kernel_w = weight.shape
    stride_h, stride_w = stride
    taps_h, taps_w = -(-kernel_h // stride_h), -(-kernel_w // stride_w)
    weight = F.pad(
        weight,
        (0, taps_w * stride_w - kernel_w, 0, taps_h * stride_h - kernel_h),
    )
    kernel = (
        weight.reshape(
            in_channels, out_channels, taps_h, stride_h, taps_w, stride_w
        )
        .flip(2, 4)
        .permute(1, 3, 5, 0, 2, 4)
        .reshape(
            out_channels * stride_h * stride_w, in_channels, taps_h, taps_w
        )
    )
    phase_bias = (
        None if bias is None else bias.repeat_interleave(stride_h * stride_w)
    )
    phases = F.conv2d(
        F.pad(x, (taps_w - 1, taps_w - 1, taps_h - 1, taps_h - 1)),
        kernel,
        phase_bias,
    )
    batch, _, height, width = phases.shape
    by_phase = phases.reshape(
        batch, out_channels, stride_h, stride_w, height, width
    )
    if x.is_contiguous(memory_format=torch.channels_last):
        full = (
            by_phase.permute(0, 4, 2, 5, 3, 1)
            .reshape(batch, height * stride_h, width * stride_w, out_channels)
            .permute(0, 3, 1, 2)
        )
    else:
        full = by_phase.permute(0, 1, 4, 2, 5, 3).reshape(
            batch, out_channels, height * stride_h, width * stride_w
        )
    out_h = (x.shape[2] - 1) * stride_h - 2 * padding[0] + kernel_h
    out_w = (x.shape[3] - 1) * stride_w - 2 * padding[1] + kernel_w
    return full[
        :, :, padding[0] : padding[0] + out_h, padding[1] : padding[1] + out_w
    ]


def candidates(layer):
    """Name to forward function of each formulation to time for a layer."""
    found = {
        "native": layer,
        "conv_transpose2d": lambda x: torch.nn.ConvTranspose2d.forward(
            layer, x
        ),
        "subpixel": lambda x: subpixel_conv_transpose2d(
            x, layer.weight, layer.bias, layer.stride, layer.padding
        ),
    }
    if isinstance(layer, PIQ.MaskHeadConvTranspose2d):
        found["overlap-add"] = layer.forward_by_overlap_add
    return found


def layer_input(layer, shape, device, memory_format):
    """A random input for ``layer``; a gapped layer's gap columns hold one
    random value per channel and clip, as in the decoder."""
    x = torch.randn(shape, device=device)
    if isinstance(layer, GappedInputConvTranspose2d):
        data = x[..., layer.data_offset :: layer.data_step].clone()
        x[:] = torch.randn(shape[:2], device=device)[..., None, None]
        x[..., layer.data_offset :: layer.data_step] = data
    return x.contiguous(memory_format=memory_format)


def decoder_inputs(name, hparams, batch_size, device):
    """A backbone's PSI (recipe settings) and the input shape of each of its
    decoder's transposed convolutions, for ``batch_size`` 5 s clips."""
    torch.manual_seed(0)
    classifier, psi = build_interpreter(name, hparams)
    classifier, psi = classifier.to(device).freeze(), psi.to(device)
    wavs = 0.1 * torch.randn(batch_size, int(hparams["clip_seconds"] * 16000))
    shapes = {}

    def record_input(index):
        def hook(module, inputs, output):
            shapes[index] = tuple(inputs[0].shape)

        return hook

    hooks = [
        layer.register_forward_hook(record_input(index))
        for index, layer in enumerate(psi.decoder)
        if isinstance(layer, torch.nn.ConvTranspose2d)
    ]
    with torch.no_grad():
        logpower, _ = hparams["compute_features"].to(device)(wavs.to(device))
        representation, _, logits = classifier(logpower)
        psi(representation, logits.argmax(dim=1))
    for hook in hooks:
        hook.remove()
    return psi, shapes


def time_layer(layer, shape, args):
    """Milliseconds, TFLOP/s and relative deviation of each formulation of
    one layer, forward + backward."""
    memory_format = (
        torch.channels_last if args.channels_last else torch.contiguous_format
    )
    layer = layer.to(memory_format=memory_format)
    x = layer_input(layer, shape, args.device, memory_format)
    x.requires_grad_(True)
    autocast = (
        torch.autocast(torch.device(args.device).type, dtype=torch.bfloat16)
        if args.precision == "bf16"
        else contextlib.nullcontext()
    )
    forwards = candidates(layer)
    with torch.no_grad():
        reference = forwards["conv_transpose2d"](x.detach()).float()
    scale = reference.abs().max().item() or 1.0

    def step(forward):
        layer.zero_grad(set_to_none=True)
        x.grad = None
        with autocast, torch.set_grad_enabled(not args.forward_only):
            output = forward(x)
        if not args.forward_only:
            output.backward(torch.ones_like(output))

    nominal, _ = count_flops(lambda: step(forwards["conv_transpose2d"]))
    results = {}
    for name, forward in forwards.items():
        with torch.no_grad(), autocast:
            deviation = (forward(x.detach()).float() - reference).abs().max()
        milliseconds = median_ms(
            lambda forward=forward: step(forward),
            args.repeats,
            args.warmup,
            args.device,
        )
        results[name] = {
            "ms": milliseconds,
            "tflops": nominal / milliseconds / 1e9,
            "deviation": deviation.item() / scale,
        }
    return nominal, results


def print_layers(name, psi, shapes, args):
    """One table row per transposed convolution of a backbone's decoder."""
    print(f"\n{name} (batch {next(iter(shapes.values()))[0]})\n")
    formulations = ("native", "conv_transpose2d", "subpixel", "overlap-add")
    work = "fwd" if args.forward_only else "fwd+bwd"
    print(
        f"| layer | kernel / stride | input | GFLOP {work} | "
        + " | ".join(f"{name} ms (TFLOP/s, deviation)" for name in formulations)
        + " |"
    )
    print("|" + "---|" * (4 + len(formulations)))
    for index, shape in shapes.items():
        layer = psi.decoder[index]
        nominal, results = time_layer(layer, shape, args)
        cells = [
            str(index),
            f"{tuple(layer.kernel_size)} / {tuple(layer.stride)}",
            "x".join(map(str, shape[1:])),
            f"{nominal / 1e9:.1f}",
        ]
        for formulation in formulations:
            result = results.get(formulation)
            if result is None:
                cells.append("-")
            else:
                cells.append(
                    f"{result['ms']:.2f} ({result['tflops']:.3g}, "
                    f"{result['deviation']:.0e})"
                )
        print("| " + " | ".join(cells) + " |", flush=True)


def main():
    """Times every requested backbone's decoder layers."""
    parser = bench_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="clips (default: the recipe's, 16 conv2d, 6 ViT/FocalNet)",
    )
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument(
        "--forward-only",
        action="store_true",
        help="time the forward pass alone, without autograd (inference)",
    )
    parser.add_argument(
        "--cudnn-benchmark",
        action="store_true",
        help="let cuDNN time its algorithms for each shape first",
    )
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    print(
        f"{datetime.datetime.now().isoformat(timespec='seconds')} | "
        f"{device_name(args.device)} | torch {torch.__version__} | {args.precision}, channels_last "
        f"{args.channels_last}, cudnn.benchmark {args.cudnn_benchmark}, "
        f"{'forward' if args.forward_only else 'forward + backward'} | "
        f"median of {args.repeats}"
    )
    hparams = piq_defaults()
    for name in args.configs:
        batch_size = args.batch_size or CONFIGS[name]["batch_size"]
        psi, shapes = decoder_inputs(name, hparams, batch_size, args.device)
        print_layers(name, psi, shapes, args)


if __name__ == "__main__":
    main()
