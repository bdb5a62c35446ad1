"""The benchmark's two steps compute the same thing, and its CPU memory
measure counts what a step allocates.

``bench/train_step.py`` times our ``PIQBrain`` step against an
upstream-equivalent one (``bench/upstream_step.py``); the comparison is only
meaningful if, for the same weights and input, our loss and its gradients
equal upstream's fp32 formula computed with upstream's PSI class.
"""

import os
import sys

import pytest
import speechbrain as sb
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
from step_setup import build_brains, piq_defaults, synthetic_batch  # noqa: E402
from upstream_step import upstream_loss  # noqa: E402
from vq import cpu_timeline_peak_mib  # noqa: E402

from speechbrain_piq.interpretation import interpret  # noqa: E402

N_CLASSES = 5


@pytest.fixture(scope="module")
def tiny_hparams():
    """The recipe's defaults with a small dictionary and class count."""
    return piq_defaults({"K": 20, "out_n_neurons": N_CLASSES})


def train_loss_and_grads(brain, batch):
    """The TRAIN-stage loss and PSI's gradients, without an optimizer step."""
    brain.modules.psi.zero_grad(set_to_none=True)
    outputs = brain.compute_forward(batch, sb.Stage.TRAIN)
    loss = brain.compute_objectives(outputs, batch, sb.Stage.TRAIN)
    loss.backward()
    grads = {
        name: param.grad.clone()
        for name, param in brain.modules.psi.named_parameters()
    }
    return loss.detach(), grads


@pytest.mark.parametrize(
    "backbone, channels_last",
    [("conv2d", False), ("vit", False), ("focalnet", False), ("conv2d", True)],
)
def test_our_step_matches_upstream_formula(
    backbone, channels_last, tiny_hparams
):
    torch.manual_seed(0)
    ours, upstream = build_brains(
        backbone, tiny=True, hparams=tiny_hparams, channels_last=channels_last
    )
    psi_weight = ours.modules.psi.decoder[0].weight
    assert (
        psi_weight.is_contiguous(memory_format=torch.channels_last)
        == channels_last
    )
    for param in upstream.modules.psi.parameters():
        assert param.is_contiguous()
    # The ViT/FocalNet decoders emit a 5 s clip's map, which upstream crops
    # to a shorter clip's start and ours resizes to the clip (README,
    # differences): they compute the same on the recipe's 5 s clips.
    seconds = 1.0 if backbone == "conv2d" else 5.0
    batch = synthetic_batch(2, seconds, 16000, N_CLASSES, seed=1)

    our_loss, our_grads = train_loss_and_grads(ours, batch)
    upstream_loss_value, upstream_grads = train_loss_and_grads(upstream, batch)

    # Channels-last convolutions, and the ViT/FocalNet decoders' gapped
    # layers, sum in another order; the training-mode batch norms of these
    # tiny models (two clips) amplify that float32 rounding in the
    # gradients: to ~1e-3 of the largest gradient here, and more for the
    # tiny ViT and FocalNet, whose eval-mode outputs still agree to float32
    # rounding (next test). In float64 the gradients agree to 1e-10
    # (tests/test_piq_lobe.py).
    reordered = channels_last or backbone in ("vit", "focalnet")
    loss_rtol, grad_tol = (1e-5, 1e-2) if reordered else (1e-5, 1e-4)
    assert torch.isfinite(our_loss)
    torch.testing.assert_close(
        our_loss, upstream_loss_value, rtol=loss_rtol, atol=1e-6
    )
    assert our_grads.keys() == upstream_grads.keys()
    # Biases feeding a batch norm get a zero gradient up to rounding, so
    # closeness is judged against the largest gradient, not each entry.
    scale = max(grad.abs().max() for grad in upstream_grads.values())
    for name, grad in our_grads.items():
        torch.testing.assert_close(
            grad,
            upstream_grads[name],
            rtol=grad_tol,
            atol=grad_tol / 10 * scale,
            msg=name,
        )


@pytest.mark.parametrize("backbone", ["conv2d", "vit", "focalnet"])
def test_channels_last_interprets_as_contiguous_weights_do(
    backbone, tiny_hparams
):
    batch = synthetic_batch(2, 1.0, 16000, N_CLASSES, seed=1)
    found = {}
    for channels_last in (False, True):
        torch.manual_seed(0)
        ours, _ = build_brains(
            backbone,
            tiny=True,
            hparams=tiny_hparams,
            channels_last=channels_last,
        )
        ours.modules.eval()
        with torch.no_grad():
            found[channels_last] = interpret(
                ours.modules.compute_features,
                ours.hparams.audio_classifier,
                ours.modules.psi,
                batch.sig.data,
            )
    for name in ("logits", "representation", "quantized", "mask_logits"):
        expected = getattr(found[False], name)
        torch.testing.assert_close(
            getattr(found[True], name),
            expected,
            rtol=1e-5,
            atol=1e-5 * expected.abs().max(),
            msg=name,
        )
    assert torch.equal(
        found[True].predicted_class, found[False].predicted_class
    )


def test_upstream_loss_is_bce_plus_vq_terms():
    logpower = torch.tensor([[[1.0, 4.0], [0.5, 2.0]]])  # peak 4
    mask = torch.tensor([[[0.2, 0.9], [0.3, 0.6]]])
    representation = torch.ones(1, 2, 1, 1)
    quantized = torch.zeros(1, 2, 1, 1)
    target = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])  # > 0.35 * 4 = 1.4
    expected = (
        2.0 * torch.nn.functional.binary_cross_entropy(mask, target) + 1 + 1
    )
    loss = upstream_loss(logpower, mask, representation, quantized, 0.35, 2.0)
    torch.testing.assert_close(loss, expected)


def test_vq_bench_cpu_memory_counts_the_steps_tensors():
    # bench/vq.py's CPU peak: a step holding 4 MiB and 2 MiB at once, over
    # a 1 MiB tensor that exists before it, peaks at 6 MiB.
    existing = torch.ones(2**18)

    def step():
        first = torch.ones(2**20)
        second = torch.ones(2**19)
        return (first.sum() + second.sum() + existing.sum()).item()

    assert cpu_timeline_peak_mib(step) == pytest.approx(6.0, abs=0.01)
