"""The loss terms, the checkpoint selection rule and the resize-conv decoder."""

import math
import os
from types import SimpleNamespace

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_piq.classifiers.base import ClassifierOutput
from speechbrain_piq.interpretation import Interpretation
from speechbrain_piq.lobes.models.PIQ import (
    VectorQuantizedPSI_Audio,
    VectorQuantizedPSIFocalNet_Audio,
    VectorQuantizedPSIViT_Audio,
)
from speechbrain_piq.training.objectives import (
    InterpreterObjective,
    mask_out_loss,
    reconstruction_loss,
    total_variation,
)
from speechbrain_piq.training.selection import (
    CHECKPOINT_METRICS,
    checkpoint_key,
    validation_score,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class FixedScores(torch.nn.Module):
    """A classifier whose scores are the mean log-power of each half of the
    bins: class 0 lives in the low bins, class 1 in the high ones."""

    def forward(self, logpower):
        half = logpower.shape[-1] // 2
        logits = torch.stack(
            [
                logpower[..., :half].mean((1, 2)),
                logpower[..., half:].mean((1, 2)),
            ],
            dim=1,
        )
        return ClassifierOutput(logpower, logits, logits)


def interpretation_of(mask, logpower, predicted_class):
    """An Interpretation with the given mask (VQ terms 0)."""
    zeros = torch.zeros(len(mask), 1, 1, 1)
    return Interpretation(
        logpower=logpower,
        stft=None,
        logits=None,
        predicted_class=predicted_class,
        mask_logits=torch.logit(mask.clamp(1e-6, 1 - 1e-6)),
        mask=mask,
        representation=zeros,
        quantized=zeros,
    )


def test_reconstruction_loss_of_an_undecided_mask_is_log_2():
    logpower = torch.rand(2, 4, 6)
    value = reconstruction_loss(torch.zeros(2, 4, 6), logpower, 0.35)
    assert torch.allclose(value, torch.full((2,), math.log(2)))


def test_mask_out_loss_is_minus_log_of_one_minus_p():
    logits = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    predicted = torch.tensor([0, 0])
    for scale in (1.0, 30.0):
        p = torch.softmax(scale * logits.double(), dim=1)[:, 0]
        expected = -torch.log1p(-p)
        assert torch.allclose(
            mask_out_loss(logits, predicted, scale).double(),
            expected,
            rtol=1e-4,
        )
    assert (mask_out_loss(logits, predicted, 30.0) >= 0).all()


def test_total_variation_of_stripes_and_constants():
    assert total_variation(torch.full((1, 4, 4), 0.3)).item() == 0
    stripes = torch.tensor([[[0.0, 1.0, 0.0, 1.0]] * 4])
    # Every frequency neighbour differs by 1, no time neighbour does.
    assert total_variation(stripes).item() == pytest.approx(0.5)


def test_mask_terms_score_the_masked_inputs_with_logit_scale():
    logpower = torch.ones(2, 3, 4)
    logpower[:, :, 2:] = 3.0  # class 1 wins on the clip
    predicted = torch.tensor([1, 1])
    high_bins = torch.zeros(2, 3, 4)
    high_bins[:, :, 2:] = 1.0
    objective = InterpreterObjective(
        {
            "mask_in_loss": 1.0,
            "mask_out_loss": 1.0,
            "mask_area_loss": 1.0,
            "fidelity_loss": 1.0,
        },
        logit_scale=10.0,
    )
    terms = objective.terms(
        interpretation_of(high_bins, logpower, predicted), FixedScores()
    )
    # Masked in: scores (0, 3); masked out: scores (1, 0).
    expected_in = -torch.log_softmax(torch.tensor([0.0, 30.0]), 0)[1]
    expected_raw = -torch.log_softmax(torch.tensor([0.0, 3.0]), 0)[1]
    p_out = torch.softmax(torch.tensor([10.0, 0.0]), 0)[1]
    assert torch.allclose(terms["mask_in_loss"], expected_in.expand(2))
    assert torch.allclose(terms["fidelity_loss"], expected_raw.expand(2))
    assert torch.allclose(
        terms["mask_out_loss"], -torch.log1p(-p_out).expand(2), atol=1e-6
    )
    assert torch.allclose(terms["mask_area_loss"], torch.full((2,), 0.5))
    total = objective.total(terms)
    assert torch.allclose(
        total,
        terms["mask_in_loss"]
        + terms["mask_out_loss"]
        + terms["mask_area_loss"]
        + terms["fidelity_loss"],
    )


def test_terms_weighted_zero_are_not_computed():
    class Refuses(torch.nn.Module):
        def forward(self, logpower):
            raise AssertionError("the classifier ran on masked inputs")

    objective = InterpreterObjective.from_hparams(
        {"rec_loss_coef": 1.0, "mask_in_loss_coef": 0.0, "mask_th": 0.5}
    )
    assert not objective.uses_classifier
    mask, logpower = torch.full((1, 2, 2), 0.5), torch.rand(1, 2, 2)
    terms = objective.terms(
        interpretation_of(mask, logpower, torch.tensor([0])), Refuses()
    )
    assert set(terms) == {"rec_loss", "vq_loss", "commit_loss"}


def test_unknown_loss_terms_are_named():
    with pytest.raises(ValueError, match="mask_in"):
        InterpreterObjective({"mask_in": 1.0})


def checkpoint(**meta):
    return SimpleNamespace(meta=meta)


def test_selection_never_prefers_a_nearly_uniform_mask():
    # Real ESC-10, exact PIQ: epoch 3's mask was almost uniform (SPS 0.026)
    # and won on Fid-In; a sparse later epoch keeps most predictions.
    uniform = checkpoint(fid_in=0.825, sps=0.026, loss=0.9)
    sparse = checkpoint(fid_in=0.80, sps=0.6, loss=1.2)
    everything = checkpoint(fid_in=1.0, sps=0.0, loss=0.5)
    runs = [uniform, sparse, everything]
    assert max(runs, key=lambda c: checkpoint_key(c, "faithful_sparsity")) is (
        sparse
    )
    assert max(runs, key=lambda c: checkpoint_key(c, "fid_in")) is everything
    assert max(runs, key=lambda c: checkpoint_key(c, "loss")) is everything


def test_selection_follows_the_metric_a_checkpoint_was_saved_under():
    legacy = checkpoint(fid_in=0.9, sps=0.1, loss=1.0)  # no selected_by
    assert checkpoint_key(legacy) == (0.9, -1.0)
    by_loss = checkpoint(fid_in=0.9, sps=0.1, loss=1.0, selected_by="loss")
    assert checkpoint_key(by_loss) == (-1.0, -1.0)
    with pytest.raises(ValueError, match="faithful_sparsity"):
        validation_score(legacy.meta, "accuracy")


@pytest.mark.parametrize(
    "psi_class, representation",
    [
        (VectorQuantizedPSI_Audio, (2, 32, 26, 32)),
        (VectorQuantizedPSIViT_Audio, (2, 32, 14, 14)),
        (VectorQuantizedPSIFocalNet_Audio, (2, 32, 14, 14)),
    ],
)
def test_resize_conv_decoder_gives_the_transposed_decoders_shape(
    psi_class, representation
):
    x, labels = torch.randn(representation), torch.tensor([0, 1])
    shapes = {
        decoder: psi_class(dim=32, K=8, numclasses=2, decoder=decoder)(
            x, labels
        )[0].shape
        for decoder in ("transposed", "resize_conv")
    }
    assert shapes["transposed"] == shapes["resize_conv"]


def interior_spread(psi):
    """Std of the mask logits for a constant input map, away from the
    borders (where zero padding reaches in)."""
    psi.eval()
    with torch.no_grad():
        logits = psi.decoder(torch.ones(1, psi.dim, 16, 16))[0, 0]
    return logits[40:-40, 40:-40].std().item()


def test_resize_conv_decoder_has_no_checkerboard():
    torch.manual_seed(0)
    smooth = VectorQuantizedPSI_Audio(
        dim=16, K=8, numclasses=2, decoder="resize_conv"
    )
    transposed = VectorQuantizedPSI_Audio(dim=16, K=8, numclasses=2)
    # A constant map stays constant through resize + convolution; the
    # transposed stack (kernel 3, stride 2 first) tiles it periodically.
    assert interior_spread(smooth) < 1e-5
    assert interior_spread(transposed) > 1e-3


def test_unknown_decoder_is_named():
    with pytest.raises(ValueError, match="resize_conv"):
        VectorQuantizedPSI_Audio(
            dim=16, K=8, numclasses=2, decoder="pixel_shuffle"
        )


@pytest.mark.parametrize("name", ["piq", "piq_vit", "piq_focalnet", "piq_demo"])
def test_every_recipe_selects_by_faithful_sparsity(name):
    hparams = load_yaml(name)
    assert hparams["best_checkpoint_metric"] == "faithful_sparsity"
    assert hparams["decoder"] == "resize_conv"
    assert hparams["mask_in_loss_coef"] > 0


@pytest.mark.parametrize(
    "name", ["piq_upstream", "piq_vit_upstream", "piq_focalnet_upstream"]
)
def test_upstream_recipes_keep_upstreams_objective(name):
    hparams = load_yaml(name)
    assert hparams["best_checkpoint_metric"] == "fid_in"
    assert hparams["decoder"] == "transposed"
    objective = InterpreterObjective.from_hparams(hparams)
    assert objective.weights == {"rec_loss": 1.0}
    assert CHECKPOINT_METRICS[0] == "faithful_sparsity"


def load_yaml(name):
    with open(os.path.join(REPO, "hparams", f"{name}.yaml")) as fin:
        overrides = {"data_folder": "unused", "output_folder": "unused"}
        if name == "piq_demo":
            overrides["classifier_folder"] = "unused"
        return load_hyperpyyaml(fin, overrides)
