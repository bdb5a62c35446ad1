"""Times our PIQ training/validation step against upstream's, in one run.

For each classifier (conv2d, ViT, FocalNet; random weights, real geometry)
and 5 s synthetic clips at 16 kHz, with the recipe's defaults
(``hparams/piq.yaml``: K 1024, 50 classes; batch 16 for conv2d, 6 for
ViT/FocalNet), it measures, for our ``PIQBrain`` and for an
upstream-equivalent Brain (``upstream_step.py``: upstream's PSI classes and
upstream's per-step work, three classifier passes with autograd, fp32):

* training clips/s (``fit_batch``: forward, loss, backward, Adam step);
* validation clips/s (``evaluate_batch`` with each side's metrics);
* peak GPU memory of a training step above the memory held before it
  (weights and optimizer state of both sides), CUDA only;
* single-clip interpretation latency (interpretation + waveform inversion,
  median);
* the time of one full-size epoch (1200 training + 400 validation clips,
  ESC-50's folds 1-3 and 4) estimated from those clips/s.

Both sides run in the same process on the same machine, so every ratio
comes from one run. Our side can be measured with ``--precision bf16``,
``--channels-last`` and ``--compile`` (of PSI); upstream's stays fp32.
``--cudnn-benchmark`` lets cuDNN pick its convolution algorithms by timing
them, for both sides (the clips have one shape).

    python bench/train_step.py                        # GPU when available
    python bench/train_step.py --device cpu --configs conv2d \\
        --steps 1 --warmup 0 --batch-size 2           # CPU smoke run
    python bench/train_step.py --precision bf16 --json results.json
    python bench/train_step.py --device cpu --latency-only  # CPU latency
"""

import datetime
import json
import math
import statistics
import time

import speechbrain as sb
import torch
from step_setup import (
    CONFIGS,
    bench_parser,
    build_brains,
    device_name,
    piq_defaults,
    synthetic_batch,
)
from upstream_step import warm_up_quantus

from speechbrain_piq.interpretation import (
    interpret,
    masked_spectrograms,
    spectrogram_to_waveform,
)

# ESC-50 with the recipe's folds: 3 x 400 training, 400 validation clips.
EPOCH_TRAIN_CLIPS = 1200
EPOCH_VALID_CLIPS = 400
SIDES = ("ours", "upstream")


def synchronize(device):
    """Waits for queued kernels, so wall-clock times are real."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def clips_per_second(run_batch, batch_size, steps, warmup, device):
    """Throughput of ``run_batch()`` over ``steps`` calls after ``warmup``."""
    for _ in range(warmup):
        run_batch()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        run_batch()
    synchronize(device)
    return batch_size * steps / (time.perf_counter() - start)


def median_ms(run, repeats, warmup, device):
    """Median milliseconds of ``run()`` over ``repeats`` calls."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        run()
        synchronize(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def peak_step_mib(run_batch, device):
    """Peak CUDA memory of one call above what was held before it; None on
    other devices."""
    if torch.device(device).type != "cuda":
        return None
    synchronize(device)
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    run_batch()
    synchronize(device)
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def our_listen(brain, wav):
    """Our inference path for one clip: ``interpret`` and the inversion of
    the masked-in spectrogram (as ``PIQInterpreter`` does)."""
    with torch.no_grad(), brain.evaluation_ctx:
        found = interpret(
            brain.modules.compute_features,
            brain.hparams.audio_classifier,
            brain.modules.psi,
            wav,
        )
    with torch.no_grad():
        masked_in, _ = masked_spectrograms(
            found.mask.float(), found.logpower.float()
        )
        return spectrogram_to_waveform(
            masked_in, found.stft.float(), brain.modules.compute_istft
        )


def upstream_listen(brain, wav):
    """Upstream's inference path for one clip (frozen weights: no graph)."""
    with torch.no_grad():
        return brain.listen(wav)


def measure(brain, listen, batch, args):
    """All numbers of one side for one configuration (only the latency
    with ``--latency-only``)."""
    result = dict.fromkeys(
        ("train_clips_per_s", "peak_train_mib", "valid_clips_per_s", "epoch_s")
    )
    if not args.latency_only:
        result.update(measure_steps(brain, batch, args))
    brain.modules.eval()
    wav = batch.sig.data[:1].to(brain.device)
    result["latency_ms"] = median_ms(
        lambda: listen(brain, wav),
        args.latency_repeats,
        max(args.warmup, 1),
        args.device,
    )
    return result


def measure_steps(brain, batch, args):
    """Training and validation throughput, peak training memory and the
    full-size epoch estimate of one side."""
    batch_size = len(batch.id)
    brain.modules.train()

    def train():
        brain.fit_batch(batch)

    result = {
        "train_clips_per_s": clips_per_second(
            train, batch_size, args.steps, args.warmup, args.device
        ),
        "peak_train_mib": peak_step_mib(train, args.device),
    }
    brain.modules.eval()
    brain.on_stage_start(sb.Stage.VALID)

    def valid():
        brain.evaluate_batch(batch, sb.Stage.VALID)

    result["valid_clips_per_s"] = clips_per_second(
        valid, batch_size, args.steps, args.warmup, args.device
    )
    result["epoch_s"] = (
        EPOCH_TRAIN_CLIPS / result["train_clips_per_s"]
        + EPOCH_VALID_CLIPS / result["valid_clips_per_s"]
    )
    return result


def run_config(name, hparams, args):
    """Measures ours and upstream's for one classifier."""
    run_opts = {"precision": args.precision, "eval_precision": args.precision}
    if args.compile:
        run_opts.update({"compile": True, "compile_module_keys": ["psi"]})
    torch.manual_seed(0)
    ours, upstream = build_brains(
        name,
        device=args.device,
        run_opts=run_opts,
        channels_last=args.channels_last,
        hparams=hparams,
    )
    batch_size = args.batch_size or CONFIGS[name]["batch_size"]
    batch = synthetic_batch(
        batch_size,
        hparams["clip_seconds"],
        hparams["sample_rate"],
        hparams["out_n_neurons"],
    )
    results = {
        "ours": measure(ours, our_listen, batch, args),
        "upstream": measure(upstream, upstream_listen, batch, args),
    }
    return {"config": name, "batch_size": batch_size, **results}


def ratio(numerator, denominator):
    """``a / b`` formatted as a speed-up, or ``-`` when undefined."""
    if numerator is None or denominator is None or denominator == 0:
        return "-"
    return f"{numerator / denominator:.2f}x"


def number(value):
    """A table cell for a measured value (``-`` when not measured)."""
    if value is None:
        return "-"
    # Three significant digits, without switching to exponent notation.
    return f"{value:.{max(0, 2 - math.floor(math.log10(abs(value) or 1)))}f}"


def print_table(rows, meta):
    """The markdown table; ratios are upstream cost / our cost."""
    print(
        f"\n{meta['date']} | device: {meta['device_name']} | "
        f"torch {meta['torch']} | speechbrain {meta['speechbrain']} | "
        f"ours: precision {meta['precision']}, channels_last "
        f"{meta['channels_last']}, compile {meta['compile']} | upstream: "
        f"fp32 | cudnn.benchmark {meta['cudnn_benchmark']} (both) | "
        f"{meta['steps']} steps after {meta['warmup']} warm-up\n"
    )
    columns = [
        ("train clips/s", "train_clips_per_s", True),
        ("valid clips/s", "valid_clips_per_s", True),
        ("peak train MiB", "peak_train_mib", False),
        ("1-clip latency ms", "latency_ms", False),
        ("epoch s (1200+400)", "epoch_s", False),
    ]
    header = ["config", "batch"]
    for title, _, _ in columns:
        header += [f"{title} ours", f"{title} upstream", "ratio"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [row["config"], str(row["batch_size"])]
        for _, key, higher_is_better in columns:
            ours, upstream = row["ours"][key], row["upstream"][key]
            cells += [number(ours), number(upstream)]
            cells.append(
                ratio(ours, upstream)
                if higher_is_better
                else ratio(upstream, ours)
            )
        print("| " + " | ".join(cells) + " |")
    print(
        "\nratio: how many times better ours is (clips/s: ours / upstream; "
        "memory, latency, epoch time: upstream / ours)."
    )


def parse_args():
    """Command-line options."""
    parser = bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="override the recipe's batch size (16 conv2d, 6 ViT/FocalNet)",
    )
    parser.add_argument("--latency-repeats", type=int, default=10)
    parser.add_argument(
        "--latency-only",
        action="store_true",
        help="measure only the single-clip interpretation latency (the CPU "
        "comparison: a CPU training step takes minutes)",
    )
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument(
        "--cudnn-benchmark",
        action="store_true",
        help="let cuDNN time its algorithms for each shape first (both sides)",
    )
    parser.add_argument("--json", help="also save the numbers to this file")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    if torch.device(args.device).type == "cuda" and not (
        torch.cuda.is_available()
    ):
        parser.error(f"--device {args.device}: CUDA is not available here")
    return args


def main():
    """Runs every requested configuration and prints the table."""
    args = parse_args()
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    meta = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "device_name": device_name(args.device),
        "torch": torch.__version__,
        "speechbrain": sb.__version__,
        **{
            key: getattr(args, key)
            for key in ("precision", "channels_last", "compile")
        },
        "cudnn_benchmark": args.cudnn_benchmark,
        "steps": args.steps,
        "warmup": args.warmup,
    }
    warm_up_quantus()
    hparams = piq_defaults()
    rows = []
    for name in args.configs:
        rows.append(run_config(name, hparams, args))
        print(f"{name}: {json.dumps(rows[-1])}", flush=True)
    print_table(rows, meta)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"meta": meta, "results": rows}, out, indent=2)


if __name__ == "__main__":
    main()
