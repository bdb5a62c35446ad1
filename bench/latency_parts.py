"""Where one clip's interpretation time goes: classifier vs PSI.

For each classifier (conv2d, ViT, FocalNet; random weights, the recipe's
``hparams/piq.yaml`` PSI settings) and one 5 s clip, prints the median
milliseconds of the frozen classifier's forward and of PSI's forward, with
the weights contiguous (as upstream) and channels-last, and PSI's forward
again with its mask head run as ``conv_transpose2d`` (upstream's layer)
instead of ``MaskHeadConvTranspose2d``'s own choice. It is the profile
behind the README's CPU latency table: which part a speed-up has to come
from, and which part channels-last or the mask head helps or hurts.

    python bench/latency_parts.py                     # GPU when available
    python bench/latency_parts.py --device cpu --repeats 3
"""

import contextlib
import datetime
from unittest import mock

import torch
from step_setup import bench_parser, build_interpreter, piq_defaults
from train_step import median_ms

from speechbrain_piq.lobes.models import PIQ


def conv_transpose_mask_head():
    """Context in which PSI's mask head runs as plain ``conv_transpose2d``."""
    return mock.patch.object(
        PIQ.MaskHeadConvTranspose2d,
        "forward",
        torch.nn.ConvTranspose2d.forward,
    )


def time_parts(name, hparams, args):
    """Median ms of the classifier, of PSI and of PSI with a
    ``conv_transpose2d`` mask head, contiguous then channels-last, for one
    backbone."""
    torch.manual_seed(0)
    classifier, psi = build_interpreter(name, hparams)
    classifier = classifier.to(args.device).freeze()
    psi = psi.to(args.device).eval()
    features = hparams["compute_features"].to(args.device)
    wav = 0.1 * torch.randn(1, int(hparams["clip_seconds"] * 16000))
    rows = []
    with torch.no_grad():
        logpower, _ = features(wav.to(args.device))
        representation, _, logits = classifier(logpower)
        labels = logits.argmax(dim=1)
        for layout in ("contiguous", "channels_last"):
            if layout == "channels_last":
                classifier.to(memory_format=torch.channels_last)
                psi.to(memory_format=torch.channels_last)
            psi_ms = []
            for head in (contextlib.nullcontext, conv_transpose_mask_head):
                with head():
                    psi_ms.append(
                        median_ms(
                            lambda: psi(representation, labels),
                            args.repeats,
                            args.warmup,
                            args.device,
                        )
                    )
            classifier_ms = median_ms(
                lambda: classifier(logpower),
                args.repeats,
                args.warmup,
                args.device,
            )
            rows.append((name, layout, classifier_ms, *psi_ms))
    return rows


def main():
    """Times every requested backbone and prints the table."""
    parser = bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    hparams = piq_defaults()
    print(
        f"\n{datetime.datetime.now().isoformat(timespec='seconds')} | "
        f"device {args.device}, {torch.get_num_threads()} threads | fp32, "
        f"one 5 s clip, median of {args.repeats}\n"
    )
    print(
        "| config | weights | classifier ms | PSI ms "
        "| PSI ms, conv_transpose2d mask head |"
    )
    print("|---|---|---|---|---|")
    for name in args.configs:
        for row in time_parts(name, hparams, args):
            config, layout, *times = row
            print(
                f"| {config} | {layout} | "
                + " | ".join(f"{ms:.0f}" for ms in times)
                + " |"
            )


if __name__ == "__main__":
    main()
