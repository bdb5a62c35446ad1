"""Where one clip's interpretation time goes: classifier vs PSI.

For each classifier (conv2d, ViT, FocalNet; random weights, the recipe's
``hparams/piq.yaml`` PSI settings) and one 5 s clip, prints the median
milliseconds of the frozen classifier's forward and of PSI's forward, with
the weights contiguous (as upstream) and channels-last. It is the profile
behind the README's CPU latency table: which part a speed-up has to come
from, and which part channels-last helps or hurts.

    python bench/latency_parts.py                     # GPU when available
    python bench/latency_parts.py --device cpu --repeats 3
"""

import datetime

import torch
from step_setup import CONFIGS, bench_parser, build_classifier, piq_defaults
from train_step import median_ms

from speechbrain_piq.lobes.models import PIQ


def time_parts(name, hparams, args):
    """Median ms of the classifier and of PSI, contiguous then
    channels-last, for one backbone."""
    torch.manual_seed(0)
    n_classes = hparams["out_n_neurons"]
    classifier, dim = build_classifier(name, n_classes)
    psi = getattr(PIQ, CONFIGS[name]["psi"])(
        dim=dim,
        K=hparams["K"],
        numclasses=n_classes,
        shared_keys=hparams["shared_keys"],
        activate_class_partitioning=hparams["activate_class_partitioning"],
        use_adapter=hparams["use_adapter"],
        adapter_reduce_dim=hparams["adapter_reduce_dim"],
    )
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
            rows.append(
                (
                    name,
                    layout,
                    median_ms(
                        lambda: classifier(logpower),
                        args.repeats,
                        args.warmup,
                        args.device,
                    ),
                    median_ms(
                        lambda: psi(representation, labels),
                        args.repeats,
                        args.warmup,
                        args.device,
                    ),
                )
            )
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
    print("| config | weights | classifier ms | PSI ms |")
    print("|---|---|---|---|")
    for name in args.configs:
        for config, layout, classifier_ms, psi_ms in time_parts(
            name, hparams, args
        ):
            print(
                f"| {config} | {layout} | {classifier_ms:.0f} | {psi_ms:.0f} |"
            )


if __name__ == "__main__":
    main()
