"""The work in a PIQ step, ours against upstream's, in GFLOP per clip.

For each classifier (conv2d, ViT, FocalNet; random weights, real geometry,
a recipe yaml: upstream's settings by default) and one 5 s clip, counts with torch's
``FlopCounterMode`` (convolutions and matrix products, forward and
backward; element-wise work, FFTs and quantus' NumPy are not counted) the
floating-point operations of:

* one training step (``fit_batch``), one validation step
  (``evaluate_batch``) and one single-clip interpretation (with waveform
  inversion), for our ``PIQBrain`` and the upstream-equivalent Brain
  (``upstream_step.py``);
* the parts of our training step: the frozen classifier's forward, PSI's
  forward and backward, and each decoder layer's share of it.

The counts do not depend on the device, the precision or the memory
layout: they are the work each side asks the hardware for. The ratio of
the two sides bounds what removing work can gain at equal hardware
efficiency; the rest of a speed-up has to come from running the same work
faster. With ``--throughput`` (a ``train_step.py --json`` file) the table
also gives the TFLOP/s each side sustained in that measurement.

    python bench/flops.py --configs conv2d
    python bench/flops.py --hparams hparams/piq.yaml  # our default recipe
    python bench/flops.py --throughput h100_bf16.json
"""

import json
import re

import speechbrain as sb
import torch
from step_setup import (
    PIQ_HPARAMS,
    bench_parser,
    build_brains,
    piq_defaults,
    synthetic_batch,
)
from torch.utils.flop_counter import FlopCounterMode
from train_step import our_listen, upstream_listen

GIGA = 1e9
DECODER_LAYER = re.compile(r"\.decoder\.(\d+)$")


def count_flops(run):
    """FLOPs of ``run()`` in total and per module.

    Arguments
    ---------
    run : callable
        The work to count (forward and backward alike).

    Returns
    -------
    total : int
        All counted FLOPs.
    per_module : dict
        Module path to FLOPs, as ``FlopCounterMode`` attributes them (leaf
        modules include their backward).

    Example
    -------
    >>> layer = torch.nn.Linear(4, 3, bias=False)
    >>> total, _ = count_flops(lambda: layer(torch.ones(2, 4)))
    >>> total  # 2 rows x 3 outputs x 4 inputs, a multiply and an add each
    48
    """
    counter = FlopCounterMode(display=False)
    with counter:
        run()
    per_module = {
        name: sum(by_op.values())
        for name, by_op in counter.get_flop_counts().items()
    }
    return counter.get_total_flops(), per_module


def step_flops(brain, listen, batch):
    """GFLOP per clip of one side's training step, validation step and
    single-clip interpretation."""
    clips = len(batch.id)
    brain.modules.train()
    train, _ = count_flops(lambda: brain.fit_batch(batch))
    brain.modules.eval()
    brain.on_stage_start(sb.Stage.VALID)
    valid, _ = count_flops(lambda: brain.evaluate_batch(batch, sb.Stage.VALID))
    wav = batch.sig.data[:1].to(brain.device)
    interpretation, _ = count_flops(lambda: listen(brain, wav))
    return {
        "train": train / clips / GIGA,
        "valid": valid / clips / GIGA,
        "interpretation": interpretation / GIGA,
    }


def training_parts(brain, batch):
    """GFLOP per clip of a training step's parts: the frozen
    classifier's forward and PSI's forward and backward, with each decoder
    layer's share (index in the decoder to GFLOP)."""
    clips = len(batch.id)
    brain.modules.train()
    wavs = batch.sig.data.to(brain.device)
    logpower, _ = brain.modules.compute_features(wavs)
    classifier = brain.hparams.audio_classifier
    with torch.no_grad():
        classifier_flops, _ = count_flops(lambda: classifier(logpower))
        representation, _, logits = classifier(logpower)

    def psi_step():
        decoded, reduced, quantized = brain.modules.psi(
            representation, logits.argmax(dim=1)
        )
        # The loss reaches PSI through all three outputs.
        (decoded.sum() + reduced.sum() + quantized.sum()).backward()

    psi_flops, per_module = count_flops(psi_step)
    decoder = {
        int(DECODER_LAYER.search(name).group(1)): flops / clips / GIGA
        for name, flops in per_module.items()
        if DECODER_LAYER.search(name) and flops
    }
    return {
        "classifier_forward": classifier_flops / clips / GIGA,
        "psi_forward_backward": psi_flops / clips / GIGA,
        "decoder_layers": dict(sorted(decoder.items())),
    }


def config_flops(name, hparams, device="cpu", tiny=False):
    """Both sides' step counts and our training step's parts for one
    classifier.

    Arguments
    ---------
    name : str
        A key of ``step_setup.CONFIGS``.
    hparams : dict
        Loaded ``piq.yaml`` (``step_setup.piq_defaults``).
    device : str
        Where to run the counted steps (the counts are the same anywhere).
    tiny : bool
        Tiny classifier and PSI (for tests).

    Returns
    -------
    dict
        ``config``, ``ours`` and ``upstream`` (GFLOP per clip of
        ``train``, ``valid``, ``interpretation``), and ``parts`` and
        ``upstream_parts`` (``training_parts`` of each side).
    """
    torch.manual_seed(0)
    ours, upstream = build_brains(
        name, device=device, hparams=hparams, tiny=tiny
    )
    batch = synthetic_batch(
        1,
        hparams["clip_seconds"],
        hparams["sample_rate"],
        hparams["out_n_neurons"],
    )
    return {
        "config": name,
        "ours": step_flops(ours, our_listen, batch),
        "upstream": step_flops(upstream, upstream_listen, batch),
        "parts": training_parts(ours, batch),
        "upstream_parts": training_parts(upstream, batch),
    }


def sustained_tflops(row, measured):
    """TFLOP/s each side sustained in a ``train_step.py`` measurement of
    the same config, for training and validation (None when absent)."""
    found = {}
    for side in ("ours", "upstream"):
        for stage in ("train", "valid"):
            clips_per_s = measured.get(side, {}).get(f"{stage}_clips_per_s")
            found[(side, stage)] = (
                None
                if clips_per_s is None
                else clips_per_s * row[side][stage] / 1000
            )
    return found


def print_tables(rows, throughput=None):
    """The step table, our training step's parts and, with a measured
    throughput, the sustained TFLOP/s."""
    print("\nGFLOP per clip (ratio: upstream / ours)\n")
    print(
        "| config | train ours | train upstream | ratio | valid ours | "
        "valid upstream | ratio | interpretation ours | "
        "interpretation upstream | ratio |"
    )
    print("|" + "---|" * 10)
    for row in rows:
        cells = [row["config"]]
        for stage in ("train", "valid", "interpretation"):
            ours, upstream = row["ours"][stage], row["upstream"][stage]
            cells += [
                f"{ours:.1f}",
                f"{upstream:.1f}",
                f"{upstream / ours:.2f}x",
            ]
        print("| " + " | ".join(cells) + " |")

    print("\nPSI forward + backward in a training step, GFLOP per clip\n")
    print("| config | ours | upstream | ours / upstream |")
    print("|" + "---|" * 4)
    for row in rows:
        ours = row["parts"]["psi_forward_backward"]
        upstream = row["upstream_parts"]["psi_forward_backward"]
        print(
            f"| {row['config']} | {ours:.1f} | {upstream:.1f} | "
            f"{ours / upstream:.2f} |"
        )

    print("\nOur training step by part, GFLOP per clip\n")
    print(
        "| config | classifier forward | PSI forward + backward | "
        "decoder layers (index: GFLOP) | last two decoder layers' share of PSI |"
    )
    print("|" + "---|" * 5)
    for row in rows:
        parts = row["parts"]
        layers = parts["decoder_layers"]
        last_two = sum(list(layers.values())[-2:])
        print(
            f"| {row['config']} | {parts['classifier_forward']:.1f} | "
            f"{parts['psi_forward_backward']:.1f} | "
            + ", ".join(
                f"{index}: {gflop:.1f}" for index, gflop in layers.items()
            )
            + f" | {100 * last_two / parts['psi_forward_backward']:.0f} % |"
        )
    if throughput is None:
        return
    measured = {row["config"]: row for row in throughput["results"]}
    meta = throughput["meta"]
    print(
        f"\nSustained TFLOP/s in {meta['date']} on {meta['device_name']} "
        f"(ours: precision {meta['precision']}, channels_last "
        f"{meta['channels_last']}; upstream fp32)\n"
    )
    print(
        "| config | train ours | train upstream | valid ours | valid upstream |"
    )
    print("|" + "---|" * 5)
    for row in rows:
        if row["config"] not in measured:
            continue
        found = sustained_tflops(row, measured[row["config"]])
        cells = [
            "-" if found[key] is None else f"{found[key]:.1f}"
            for key in (
                ("ours", "train"),
                ("upstream", "train"),
                ("ours", "valid"),
                ("upstream", "valid"),
            )
        ]
        print(f"| {row['config']} | " + " | ".join(cells) + " |")


def main():
    """Counts every requested configuration and prints the tables."""
    parser = bench_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--throughput",
        help="a train_step.py --json file: also print the TFLOP/s it shows",
    )
    parser.add_argument("--json", help="also save the counts to this file")
    parser.add_argument(
        "--hparams",
        default=PIQ_HPARAMS,
        help="the recipe yaml whose objective and decoder ours uses "
        "(default: upstream's settings, hparams/piq_upstream.yaml)",
    )
    args = parser.parse_args()
    throughput = None
    if args.throughput:
        with open(args.throughput, encoding="utf-8") as fin:
            throughput = json.load(fin)
    hparams = piq_defaults(hparams_file=args.hparams)
    rows = []
    for name in args.configs:
        rows.append(config_flops(name, hparams, args.device))
        print(f"{name}: {json.dumps(rows[-1])}", flush=True)
    print_tables(rows, throughput)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
