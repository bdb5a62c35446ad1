"""Times our VQ step against upstream's, side by side, in one run.

The VQ step is ``VQEmbedding.straight_through`` forward plus the backward of
a PIQ-like loss (straight-through path, codebook loss, commitment loss), at
the sizes the recipes use:

* conv2d: B=16, 13x16 positions, K=1024, C=256 (``piq.yaml``)
* ViT:    B=6,  7x7 positions,   K=1024, C=768 (``piq_vit.yaml``)

with 50 classes (ESC-50) and class partitioning on. Peak memory is the CUDA
allocator's peak on GPU; on CPU it is the growth of the process's peak
resident set while running the step, each measured in a fresh subprocess.

    python bench/vq.py                 # CPU, and CUDA when available
    python bench/vq.py --devices cpu --repeats 20
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from speechbrain.lobes.models import PIQ as upstream

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
    """Peak memory of one step, in MiB, measured in a fresh process."""
    if device == "cuda":
        step = make_step(implementation, CONFIGS[config_name], device)
        step()
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    out = subprocess.run(
        [sys.executable, __file__, "--rss-probe", implementation, config_name],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]


def _status_kib(field):
    """A memory field of /proc/self/status (Linux), in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_probe(implementation, config_name):
    """Child process: peak resident-set growth (MiB) during one step."""
    step = make_step(implementation, CONFIGS[config_name], "cpu")
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # resets the peak (VmHWM) to the current RSS
    before = _status_kib("VmRSS")
    step()
    print(json.dumps({"peak_mib": (_status_kib("VmHWM") - before) / 1024}))


def main():
    """Prints the side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rss-probe", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_probe:
        rss_probe(*args.rss_probe)
        return
    devices = args.devices or (
        ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    )
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name()}")
    header = (
        "| config | device | upstream ms | ours ms | speed-up "
        "| upstream peak MiB | ours peak MiB | memory ratio |"
    )
    print(header)
    print("|" + "---|" * 8)
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
                f"{mib['upstream'] / max(mib['ours'], 1e-9):.1f}x |"
            )


if __name__ == "__main__":
    main()
