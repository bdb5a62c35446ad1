import math

import pytest
import torch

from speechbrain_piq.metrics.faithfulness import accuracy, faithfulness_scores


def as_logits(probabilities):
    # softmax(log p) == p for p summing to 1: the test reasons in probabilities
    return torch.tensor(probabilities).log()


def test_hand_computed_scores():
    logits = as_logits([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    masked_in = as_logits([[0.4, 0.5, 0.1], [0.1, 0.8, 0.1]])
    masked_out = as_logits([[0.2, 0.2, 0.6], [0.3, 0.6, 0.1]])

    scores = faithfulness_scores(
        logits, masked_in, masked_out, logits.argmax(-1)
    )

    # clip 0: class 0, masked-in drops it to 0.4 and loses the top spot;
    # clip 1: class 1, masked-in raises it from 0.5 to 0.8.
    expected = {
        "fid_in": [0.0, 1.0],
        "faithfulness": [0.6 - 0.2, 0.5 - 0.6],
        "ai": [0.0, 100.0],
        "ad": [100 * (0.6 - 0.4) / 0.6, 0.0],
        "ag": [0.0, 100 * (0.8 - 0.5) / (1 - 0.5)],
    }
    assert set(scores) == set(expected)
    for name, values in expected.items():
        assert scores[name].dtype == torch.float32
        torch.testing.assert_close(
            scores[name], torch.tensor(values), atol=1e-5, rtol=1e-5
        )


def test_predicted_class_defaults_to_argmax_and_is_used_when_given():
    logits = as_logits([[0.6, 0.3, 0.1]])
    masked_in = as_logits([[0.2, 0.7, 0.1]])
    masked_out = as_logits([[0.5, 0.4, 0.1]])

    default = faithfulness_scores(logits, masked_in, masked_out)
    explicit = faithfulness_scores(
        logits, masked_in, masked_out, torch.tensor([0])
    )
    for name in default:
        torch.testing.assert_close(default[name], explicit[name])

    # Measured for class 1 instead: p=0.3 -> p_in=0.7 is a gain.
    other = faithfulness_scores(
        logits, masked_in, masked_out, torch.tensor([1])
    )
    torch.testing.assert_close(other["ai"], torch.tensor([100.0]))
    torch.testing.assert_close(other["fid_in"], torch.tensor([1.0]))
    torch.testing.assert_close(
        other["ag"], torch.tensor([100 * 0.4 / 0.7]), rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(
        other["faithfulness"], torch.tensor([0.3 - 0.4]), rtol=1e-5, atol=1e-5
    )


def reference_scores(logits, masked_in, masked_out):
    """Per-clip loop over the paper's formulas, in float64 with divisions."""
    rows = {name: [] for name in ("fid_in", "faithfulness", "ai", "ad", "ag")}
    for clip in range(logits.shape[0]):
        p = logits[clip].double().softmax(0)
        p_in = masked_in[clip].double().softmax(0)
        p_out = masked_out[clip].double().softmax(0)
        c = int(p.argmax())
        rows["fid_in"].append(float(int(p_in.argmax()) == c))
        rows["faithfulness"].append(float(p[c] - p_out[c]))
        rows["ai"].append(100.0 if p_in[c] > p[c] else 0.0)
        rows["ad"].append(100 * max(0.0, float(p[c] - p_in[c])) / float(p[c]))
        rows["ag"].append(
            100 * max(0.0, float(p_in[c] - p[c])) / float(1 - p[c])
        )
    return {
        name: torch.tensor(values, dtype=torch.float64)
        for name, values in rows.items()
    }


def test_vectorised_scores_equal_a_per_clip_loop():
    generator = torch.Generator().manual_seed(0)
    logits, masked_in, masked_out = (
        torch.randn(32, 10, generator=generator) * 3 for _ in range(3)
    )
    scores = faithfulness_scores(logits, masked_in, masked_out)
    expected = reference_scores(logits, masked_in, masked_out)
    for name in expected:
        torch.testing.assert_close(
            scores[name].double(), expected[name], atol=1e-4, rtol=1e-5
        )


def test_scores_stay_in_range_and_finite():
    generator = torch.Generator().manual_seed(1)
    logits, masked_in, masked_out = (
        torch.randn(64, 50, generator=generator) * 10 for _ in range(3)
    )
    scores = faithfulness_scores(logits, masked_in, masked_out)
    for values in scores.values():
        assert values.shape == (64,)
        assert torch.isfinite(values).all()
    assert set(scores["fid_in"].tolist()) <= {0.0, 1.0}
    assert set(scores["ai"].tolist()) <= {0.0, 100.0}
    for name in ("ad", "ag"):
        assert (scores[name] >= 0).all() and (scores[name] <= 100).all()
    assert (scores["faithfulness"].abs() <= 1).all()


def test_unchanged_inputs_score_no_drop_no_gain():
    logits = torch.randn(4, 5, generator=torch.Generator().manual_seed(2))
    scores = faithfulness_scores(logits, logits, logits)
    torch.testing.assert_close(scores["fid_in"], torch.ones(4))
    for name in ("faithfulness", "ai", "ad", "ag"):
        torch.testing.assert_close(scores[name], torch.zeros(4))


def test_confident_classifier_keeps_exact_gain():
    # p = 1 - ~1e-13: 1 - p rounds to 0 in float32, where upstream's
    # (p_in - p) / (1 - p + 1e-10) reports 0. The true gain is 1 - e^-10.
    logits = torch.tensor([[30.0, 0.0]])
    masked_in = torch.tensor([[40.0, 0.0]])
    scores = faithfulness_scores(logits, masked_in, logits)
    torch.testing.assert_close(
        scores["ag"], torch.tensor([100 * (1 - math.exp(-10))])
    )
    torch.testing.assert_close(scores["ai"], torch.tensor([100.0]))


def test_unlikely_class_keeps_exact_drop_and_increase():
    # Measured for class 1 at p = ~e^-30, where 1 - p rounds to 1.
    logits = torch.tensor([[0.0, -30.0], [0.0, -30.0]])
    masked_in = torch.tensor([[0.0, -20.0], [0.0, -31.0]])
    scores = faithfulness_scores(
        logits, masked_in, logits, torch.tensor([1, 1])
    )
    torch.testing.assert_close(scores["ai"], torch.tensor([100.0, 0.0]))
    torch.testing.assert_close(
        scores["ad"], torch.tensor([0.0, 100 * (1 - math.exp(-1))])
    )


def test_half_precision_logits_give_the_float32_scores():
    generator = torch.Generator().manual_seed(3)
    logits, masked_in, masked_out = (
        (torch.randn(8, 6, generator=generator) * 8).half() for _ in range(3)
    )
    half = faithfulness_scores(logits, masked_in, masked_out)
    full = faithfulness_scores(
        logits.float(), masked_in.float(), masked_out.float()
    )
    for name in full:
        assert half[name].dtype == torch.float32
        torch.testing.assert_close(half[name], full[name])


def test_scores_carry_no_gradient():
    logits = torch.randn(3, 4, requires_grad=True)
    scores = faithfulness_scores(logits, logits * 2, logits * 0.5)
    assert not any(values.requires_grad for values in scores.values())


@pytest.mark.parametrize(
    "masked_in, predicted_class, message",
    [
        (torch.zeros(2, 4), None, "logits_masked_in has shape"),
        (torch.zeros(2, 1, 3), None, "squeeze"),
        (torch.zeros(2, 3), torch.tensor([0.0, 1.0]), "integer tensor"),
        (torch.zeros(2, 3), torch.tensor([0, 1, 2]), "must have shape [2]"),
    ],
)
def test_bad_inputs_name_the_argument(masked_in, predicted_class, message):
    logits = torch.zeros(2, 3)
    with pytest.raises(
        (ValueError, TypeError), match=message.replace("[", r"\[")
    ):
        faithfulness_scores(logits, masked_in, logits, predicted_class)


def test_single_class_is_refused():
    logits = torch.zeros(2, 1)
    with pytest.raises(ValueError, match="need >= 2"):
        faithfulness_scores(logits, logits, logits)


def test_accuracy_accepts_speechbrain_padded_labels():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    labels = torch.tensor([0, 1, 1])
    torch.testing.assert_close(
        accuracy(logits, labels), torch.tensor([1.0, 1.0, 0.0])
    )
    torch.testing.assert_close(
        accuracy(logits, labels.unsqueeze(1)), torch.tensor([1.0, 1.0, 0.0])
    )
