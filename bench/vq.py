"""Times our VQ step against upstream's, side by side, in one run.

The VQ step is ``VQEmbedding.straight_through`` forward plus the backward of
a PIQ-like loss (straight-through path, codebook loss, commitment loss), at
the sizes the recipes use:

* conv2d: B=16, 13x16 positions, K=1024, C=256 (``piq.yaml``)
* ViT:    B=6,  7x7 positions,   K=1024, C=768 (``piq_vit.yaml``)

with 50 classes (ESC-50) and class partitioning on. Peak memory is what the
step allocates on top of the tensors that exist before it (module, inputs):
the CUDA allocator's peak on GPU; on CPU, the peak of the tensor memory
timeline that ``torch.profiler`` records (every tensor allocation and free,
the same accounting as the CUDA allocator's, without the CPU allocator's
caching that a resident-set measure would count). The last column is the
floor both sides share: the gradients the step must return, for the input
and the (dense) codebook.

    python bench/vq.py                 # CPU, and CUDA when available
    python bench/vq.py --devices cpu --repeats 20
"""

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from speechbrain.lobes.models import PIQ as upstream
from torch.profiler import ProfilerActivity, profile

from speechbrain_piq.lobes.models import PIQ as ours

CONFIGS = {
    "conv2d": dict(batch=16, height=13, width=16, K=1024, channels=256),
    "vit": dict(batch=6, height=7, width=7, K=1024, channels=768),
}
IMPLEMENTATIONS = {"upstream": upstream, "ours": ours}
NUM_CLASSES = 50


def make_step(implementation, config, device):
    """Returns a closure running one VQ forward + backward."""
    torch.manual_seed(0)
    vq = (
        IMPLEMENTATIONS[implementation]
        .VQEmbedding(config["K"], config["channels"], numclasses=NUM_CLASSES)
        .to(device)
    )
    z = torch.randn(
        config["batch"],
        config["channels"],
        config["height"],
        config["width"],
        device=device,
        requires_grad=True,
    )
    labels = torch.randint(0, NUM_CLASSES, (config["batch"],), device=device)
    weights = torch.randn_like(z)

    def step():
        z_q_st, z_q = vq.straight_through(z, labels)
        loss = (
            (z_q_st * weights).mean()
            + F.mse_loss(z_q, z.detach())
            + F.mse_loss(z, z_q.detach())
        )
        loss.backward()
        z.grad = None
        vq.zero_grad(set_to_none=True)

    return step


def synchronize(device):
    """Waits for queued kernels, so wall-clock times are real."""
    if device == "cuda":
        torch.cuda.synchronize()


def time_step(implementation, config, device, repeats):
    """Median milliseconds of one step, after warm-up."""
    step = make_step(implementation, config, device)
    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def peak_memory_mib(implementation, config_name, device):
    """Peak memory one step allocates, in MiB (after a warm-up step)."""
    step = make_step(implementation, CONFIGS[config_name], device)
    step()
    if device == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    return cpu_timeline_peak_mib(step)


def gradients_mib(config):
    """MiB of the float32 gradients a step returns: the input's and the
    codebook's (dense, as optimizers need), a floor for any implementation."""
    input_size = (
        config["batch"]
        * config["height"]
        * config["width"]
        * config["channels"]
    )
    codebook_size = config["K"] * config["channels"]
    return 4 * (input_size + codebook_size) / 2**20


def cpu_timeline_peak_mib(step):
    """Peak tensor memory (MiB) allocated by ``step`` on the CPU, over what
    was allocated when it started, from the profiler's memory timeline."""
    with profile(
        activities=[ProfilerActivity.CPU],
        profile_memory=True,
        record_shapes=True,
        with_stack=True,
    ) as profiler:
        step()
    with tempfile.TemporaryDirectory() as folder:
        timeline = Path(folder) / "timeline.json"
        with warnings.catch_warnings():
            # Deprecated for CUDA in favour of memory snapshots, which do
            # not cover the CPU; the timeline is the CPU's only record.
            warnings.simplefilter("ignore", FutureWarning)
            profiler.export_memory_timeline(str(timeline), device="cpu")
        _, sizes = json.loads(timeline.read_text())
    totals = [sum(by_category) for by_category in sizes]
    return (max(totals) - totals[0]) / 2**20


def main():
    """Prints the side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    devices = args.devices or (
        ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    )
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name()}")
    header = (
        "| config | device | upstream ms | ours ms | speed-up "
        "| upstream peak MiB | ours peak MiB | memory ratio "
        "| gradients MiB |"
    )
    print(header)
    print("|" + "---|" * 9)
    for device in devices:
        for name, config in CONFIGS.items():
            ms = {
                impl: time_step(impl, config, device, args.repeats)
                for impl in IMPLEMENTATIONS
            }
            mib = {
                impl: peak_memory_mib(impl, name, device)
                for impl in IMPLEMENTATIONS
            }
            print(
                f"| {name} | {device} | {ms['upstream']:.2f} | "
                f"{ms['ours']:.2f} | {ms['upstream'] / ms['ours']:.1f}x | "
                f"{mib['upstream']:.1f} | {mib['ours']:.1f} | "
                f"{mib['upstream'] / max(mib['ours'], 1e-9):.1f}x | "
                f"{gradients_mib(config):.2f} |"
            )


if __name__ == "__main__":
    main()
