"""``bench/flops.py`` counts each side's work as the steps do it."""

import os
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
from flops import (  # noqa: E402
    config_flops,
    count_flops,
    print_tables,
    sustained_tflops,
)
from step_setup import piq_defaults  # noqa: E402


@pytest.fixture(scope="module")
def tiny_conv2d():
    """Counts of the tiny conv2d configuration (small K and class count)."""
    hparams = piq_defaults({"K": 20, "out_n_neurons": 5})
    return config_flops("conv2d", hparams, tiny=True)


def test_count_flops_counts_a_matrix_product():
    layer = torch.nn.Linear(4, 3, bias=False)
    total, per_module = count_flops(lambda: layer(torch.ones(2, 4)))
    assert total == 2 * 2 * 3 * 4
    assert per_module["Global"] == total


def test_our_training_step_is_its_parts(tiny_conv2d):
    parts = tiny_conv2d["parts"]
    # The loss terms are element-wise and the STFT is an FFT: neither is
    # counted, so the step is exactly the classifier's forward plus PSI's.
    assert tiny_conv2d["ours"]["train"] == pytest.approx(
        parts["classifier_forward"] + parts["psi_forward_backward"]
    )
    assert list(parts["decoder_layers"]) == [0, 3, 6, 9, 12]
    assert sum(parts["decoder_layers"].values()) < parts["psi_forward_backward"]


def test_upstream_steps_do_more_work_and_interpret_alike(tiny_conv2d):
    ours, upstream = tiny_conv2d["ours"], tiny_conv2d["upstream"]
    # Upstream back-propagates into the classifier and runs it twice more;
    # its validation recomputes the interpretation twice.
    assert upstream["train"] > ours["train"]
    assert upstream["valid"] > 2 * upstream["interpretation"]
    assert upstream["valid"] > ours["valid"]
    # One interpretation is the same work on both sides, but for the VQ
    # distances, which ours takes to the predicted class's keys only.
    assert ours["interpretation"] < upstream["interpretation"]
    assert ours["interpretation"] == pytest.approx(
        upstream["interpretation"], rel=1e-3
    )


def test_sustained_tflops_is_throughput_times_work():
    row = {
        "ours": {"train": 500.0, "valid": 200.0},
        "upstream": {"train": 700.0, "valid": 600.0},
    }
    measured = {
        "ours": {"train_clips_per_s": 100.0, "valid_clips_per_s": None},
        "upstream": {"train_clips_per_s": 10.0, "valid_clips_per_s": 5.0},
    }
    found = sustained_tflops(row, measured)
    assert found[("ours", "train")] == pytest.approx(50.0)
    assert found[("ours", "valid")] is None
    assert found[("upstream", "train")] == pytest.approx(7.0)
    assert found[("upstream", "valid")] == pytest.approx(3.0)


def test_print_tables_adds_the_sustained_rates_of_a_measurement(capsys):
    row = {
        "config": "conv2d",
        "ours": {"train": 500.0, "valid": 200.0, "interpretation": 150.0},
        "upstream": {"train": 700.0, "valid": 600.0, "interpretation": 150.0},
        "parts": {
            "classifier_forward": 40.0,
            "psi_forward_backward": 460.0,
            "decoder_layers": {0: 10.0, 9: 300.0, 12: 45.0},
        },
        "upstream_parts": {
            "classifier_forward": 40.0,
            "psi_forward_backward": 920.0,
            "decoder_layers": {},
        },
    }
    throughput = {
        "meta": {
            "date": "2026-11-25",
            "device_name": "GPU",
            "precision": "bf16",
            "channels_last": True,
        },
        "results": [
            {
                "config": "conv2d",
                "ours": {
                    "train_clips_per_s": 100.0,
                    "valid_clips_per_s": 250.0,
                },
                "upstream": {
                    "train_clips_per_s": 90.0,
                    "valid_clips_per_s": 10.0,
                },
            }
        ],
    }
    print_tables([row], throughput)
    printed = capsys.readouterr().out
    assert "| conv2d | 500.0 | 700.0 | 1.40x |" in printed
    assert "| conv2d | 460.0 | 920.0 | 0.50 |" in printed
    assert "9: 300.0, 12: 45.0 | 75 % |" in printed
    assert "| conv2d | 50.0 | 63.0 | 50.0 | 6.0 |" in printed
