"""``train_piq.py`` under ``torchrun`` with two CPU processes (gloo).

A single-process run trains a tiny PSI for an epoch and evaluates its best
checkpoint; then ``torchrun --test_only`` over a copy of that output folder
evaluates the same checkpoint on two ranks. The per-clip metrics are
reduced across ranks, so both must agree.

Only evaluation runs under DDP: SpeechBrain's ``Brain`` turns every
BatchNorm (PSI has some) into ``SyncBatchNorm`` before wrapping a module in
DDP, and ``SyncBatchNorm`` refuses CPU modules, so DDP *training* needs GPUs.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from piq_recipe_factory import (
    REPO,
    TRAIN_PIQ,
    import_train_piq,
    make_tiny_setup,
    tiny_args,
)

from speechbrain_piq.brain import PIQBrain

train_piq = import_train_piq()

TORCHRUN_TIMEOUT_S = 300

pytestmark = pytest.mark.skipif(
    not (
        torch.distributed.is_available()
        and torch.distributed.is_gloo_available()
    ),
    reason="torch.distributed with the gloo backend is not available, "
    "so torchrun cannot start CPU processes",
)


def read_metrics(run_folder):
    """The ``test_metrics.json`` a run wrote."""
    with open(run_folder / "test_metrics.json", encoding="utf-8") as fin:
        return json.load(fin)


def test_ddp_evaluation_matches_single_process(tmp_path):
    # 2 clips per class and fold: 6 test clips, one batch of 3 per rank, so
    # a DistributedSampler would need no padding duplicates either.
    root, paths = make_tiny_setup(tmp_path, clips_per_class_per_fold=2)
    # torchrun starts each rank with one thread; float32 sums over other
    # thread counts differ in the last bits, which AG amplifies.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_piq.main(tiny_args(root, paths, "single", n_interpretations=1))
    finally:
        torch.set_num_threads(threads)
    single = root / "single"
    ddp = root / "ddp"
    shutil.copytree(single, ddp)
    os.remove(ddp / "test_metrics.json")

    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        TRAIN_PIQ,
        *tiny_args(root, paths, "ddp", n_interpretations=1),
        "--distributed_backend",
        "gloo",
        "--device",
        "cpu",
        "--test_only",
    ]
    try:
        result = subprocess.run(
            command,
            cwd=REPO,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            capture_output=True,
            text=True,
            timeout=TORCHRUN_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"torchrun did not finish in {error.timeout} s (a hang?)")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]

    single_metrics = read_metrics(single)
    ddp_metrics = read_metrics(ddp)
    assert ddp_metrics.keys() == single_metrics.keys()
    for name, value in single_metrics.items():
        assert ddp_metrics[name] == pytest.approx(value, rel=1e-5, abs=1e-7), (
            name
        )
    assert (ddp / "train_log.txt").read_text().count("Epoch loaded: 1") == 2


def _skip_decision_on_rank(rank, port, results):
    """Rank ``rank`` of 2 asks whether its batch is finite; rank 1's is not."""
    torch.distributed.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=2,
    )
    try:
        audio = torch.zeros(2, 160)
        if rank == 1:
            audio[0, 3] = float("nan")
        batch = SimpleNamespace(sig=SimpleNamespace(data=audio), id=["a", "b"])
        brain = SimpleNamespace(device="cpu", skipped_batches=0)
        results[rank] = PIQBrain._is_finite_batch(brain, batch)
    finally:
        torch.distributed.destroy_process_group()


def test_a_nan_batch_on_one_rank_is_skipped_on_every_rank():
    # A rank that stepped alone would wait forever in DDP's all-reduce.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    results = torch.multiprocessing.Manager().dict()
    torch.multiprocessing.spawn(
        _skip_decision_on_rank, args=(port, results), nprocs=2
    )
    assert dict(results) == {0: False, 1: False}
