import math

import numpy as np
import pytest
import torch

from speechbrain_piq.metrics.mask_quality import complexity, sparseness


def test_uniform_and_one_hot_masks_are_the_extremes():
    n_values = 20
    uniform = torch.full((1, 4, 5), 0.3)
    one_hot = torch.zeros(1, 4, 5)
    one_hot[0, 2, 3] = 0.9
    masks = torch.cat([uniform, one_hot])

    # quantus's 1e-7 floor on every value keeps one-hot a hair below
    # (n - 1) / n
    torch.testing.assert_close(
        sparseness(masks),
        torch.tensor([0.0, (n_values - 1) / n_values]),
        atol=n_values * 1e-6,
        rtol=0,
    )
    torch.testing.assert_close(
        complexity(masks), torch.tensor([math.log(n_values), 0.0])
    )


def test_hand_computed_values():
    mask = torch.tensor([[4.0, 1.0, 3.0, 2.0]])
    # sorted and peak-normalised: .25 .5 .75 1 with weights -3 -1 1 3
    gini = (-3 * 0.25 - 0.5 + 0.75 + 3 * 1.0) / (4 * 2.5)
    torch.testing.assert_close(sparseness(mask), torch.tensor([gini]))
    shares = [0.4, 0.1, 0.3, 0.2]
    entropy = -sum(p * math.log(p) for p in shares)
    torch.testing.assert_close(complexity(mask), torch.tensor([entropy]))


def test_scale_sign_and_layout_do_not_matter():
    generator = torch.Generator().manual_seed(0)
    mask = torch.rand(3, 6, 7, generator=generator)
    signs = torch.randint(0, 2, mask.shape, generator=generator) * 2 - 1
    for metric in (sparseness, complexity):
        reference = metric(mask)
        torch.testing.assert_close(metric(mask * 37.0), reference)
        torch.testing.assert_close(metric(mask * signs), reference)
        torch.testing.assert_close(metric(mask.flatten(1)), reference)


def test_all_zero_mask_is_undefined_and_leaves_others_alone():
    mask = torch.rand(3, 10, generator=torch.Generator().manual_seed(1))
    with_zero = mask.clone()
    with_zero[1] = 0
    for metric in (sparseness, complexity):
        scores = metric(with_zero)
        assert torch.isnan(scores[1])
        torch.testing.assert_close(scores[[0, 2]], metric(mask)[[0, 2]])


def reference_sparseness(clip):
    values = np.sort(np.abs(clip).ravel().astype(np.float64))
    values = values / values.max() + 1e-7
    n_values = values.size
    weight = 2 * np.arange(1, n_values + 1) - n_values - 1
    return (weight * values).sum() / (n_values * values.sum())


def reference_complexity(clip):
    shares = np.abs(clip).ravel().astype(np.float64)
    shares = shares[shares > 0] / shares.sum()
    return -(shares * np.log(shares)).sum()


def test_vectorised_scores_equal_a_per_clip_loop():
    generator = torch.Generator().manual_seed(2)
    mask = torch.rand(8, 30, 20, generator=generator) ** 4
    mask[3] *= torch.rand(30, 20, generator=generator) < 0.05  # sparse clip
    for metric, reference in (
        (sparseness, reference_sparseness),
        (complexity, reference_complexity),
    ):
        expected = torch.tensor([reference(clip) for clip in mask.numpy()])
        torch.testing.assert_close(
            metric(mask).double(), expected, atol=1e-5, rtol=1e-5
        )


def test_scores_carry_no_gradient():
    mask = torch.rand(2, 5, requires_grad=True)
    assert not sparseness(mask).requires_grad
    assert not complexity(mask).requires_grad


@pytest.mark.parametrize("metric", [sparseness, complexity])
def test_bad_masks_get_clear_errors(metric):
    with pytest.raises(ValueError, match=r"\[batch, \.\.\.\]"):
        metric(torch.rand(5))
    with pytest.raises(ValueError, match="at least one value per clip"):
        metric(torch.rand(2, 0))
    with pytest.raises(TypeError, match="torch.Tensor"):
        metric([[0.1, 0.2]])


def test_matches_quantus_on_random_masks():
    quantus = pytest.importorskip("quantus")
    generator = torch.Generator().manual_seed(3)
    mask = torch.rand(6, 1, 16, 12, generator=generator) ** 3
    mask[2] *= torch.rand(1, 16, 12, generator=generator) < 0.1
    inputs = np.zeros(mask.shape, dtype=np.float32)
    labels = np.zeros(mask.shape[0], dtype=np.int64)

    for ours, theirs in (
        (sparseness, quantus.Sparseness(disable_warnings=True)),
        (complexity, quantus.Complexity(disable_warnings=True)),
    ):
        # quantus normalises by the batch peak, ours by each clip's peak:
        # one clip at a time they must agree to float32 precision.
        expected = [
            theirs(
                model=None,
                x_batch=inputs[i : i + 1],
                y_batch=labels[i : i + 1],
                a_batch=mask[i : i + 1].numpy().copy(),
            )[0]
            for i in range(mask.shape[0])
        ]
        torch.testing.assert_close(
            ours(mask).double(),
            torch.tensor(expected, dtype=torch.float64),
            atol=1e-5,
            rtol=1e-5,
        )
        # and on the whole batch only the 1e-7 floor can move
        batch = theirs(
            model=None,
            x_batch=inputs,
            y_batch=labels,
            a_batch=mask.numpy().copy(),
        )
        torch.testing.assert_close(
            ours(mask).double(),
            torch.tensor(batch, dtype=torch.float64),
            atol=1e-5,
            rtol=1e-5,
        )
