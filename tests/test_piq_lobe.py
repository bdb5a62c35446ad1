"""Our PIQ lobe against the upstream oracle shipped in ``speechbrain``.

Both sides get the same weights (loaded with ``strict=True``) and inputs;
indices must agree exactly, tensors and gradients to float32 tolerance.
"""

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.lobes.models import PIQ as upstream

from speechbrain_piq.lobes.models import PIQ as ours


def assert_fp32_close(got, want, msg=None):
    """Float32 agreement, absolute error scaled by the tensor's magnitude
    (convolutions in another memory layout sum in another order)."""
    scale = max(want.abs().max().item(), 1.0)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * scale, msg=msg)


PSI_CLASSES = [
    "VectorQuantizedPSI_Audio",
    "VectorQuantizedPSIFocalNet_Audio",
    "VectorQuantizedPSIViT_Audio",
]


def _pair(class_name, **kwargs):
    """The same module from both implementations, with identical weights."""
    torch.manual_seed(0)
    reference = getattr(upstream, class_name)(**kwargs)
    candidate = getattr(ours, class_name)(**kwargs)
    candidate.load_state_dict(reference.state_dict(), strict=True)
    return reference, candidate


def _vq_losses(x_tilde, hcat, z_q_x, weights):
    """A PIQ-like objective touching every output (decoder, VQ, commit)."""
    reconstruction = (x_tilde * weights).mean()
    codebook = torch.nn.functional.mse_loss(z_q_x, hcat.detach())
    commitment = torch.nn.functional.mse_loss(hcat, z_q_x.detach())
    return reconstruction + codebook + commitment


@pytest.mark.parametrize("class_name", PSI_CLASSES)
def test_state_dict_keys_and_shapes_match(class_name):
    reference = getattr(upstream, class_name)(dim=32, K=64, numclasses=4)
    candidate = getattr(ours, class_name)(dim=32, K=64, numclasses=4)
    ref_shapes = {k: v.shape for k, v in reference.state_dict().items()}
    our_shapes = {k: v.shape for k, v in candidate.state_dict().items()}
    assert ref_shapes == our_shapes
    # Loading works both ways with strict=True.
    reference.load_state_dict(candidate.state_dict(), strict=True)
    candidate.load_state_dict(reference.state_dict(), strict=True)


@pytest.mark.parametrize("class_name", PSI_CLASSES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(
    "partitioning, shared_keys", [(True, 0), (True, 6), (False, 0)]
)
def test_psi_outputs_and_gradients_match_upstream(
    class_name, training, partitioning, shared_keys
):
    dim, K, numclasses = 16, 48, 5
    reference, candidate = _pair(
        class_name,
        dim=dim,
        K=K,
        numclasses=numclasses,
        activate_class_partitioning=partitioning,
        shared_keys=shared_keys,
    )
    reference.train(training)
    candidate.train(training)
    torch.manual_seed(1)
    hs = torch.randn(3, dim, 6, 10)  # non-square map
    labels = torch.tensor([4, 0, 2])
    outputs = {}
    for name, model in (("ref", reference), ("ours", candidate)):
        x = hs.clone().requires_grad_(True)
        x_tilde, hcat, z_q_x = model(x, labels)
        torch.manual_seed(2)
        weights = torch.randn_like(x_tilde)
        _vq_losses(x_tilde, hcat, z_q_x, weights).backward()
        grads = {n: p.grad for n, p in model.named_parameters()}
        outputs[name] = (x_tilde, hcat, z_q_x, x.grad, grads)
    for got, want in zip(outputs["ours"][:4], outputs["ref"][:4]):
        assert_fp32_close(got, want)
    ours_grads, ref_grads = outputs["ours"][4], outputs["ref"][4]
    assert ours_grads.keys() == ref_grads.keys()
    for name in ref_grads:
        assert_fp32_close(ours_grads[name], ref_grads[name], msg=name)
    assert ours_grads["codebook.embedding.weight"].abs().sum() > 0


@pytest.mark.parametrize(
    "class_name",
    ["VectorQuantizedPSIFocalNet_Audio", "VectorQuantizedPSIViT_Audio"],
)
def test_gapped_decoders_are_upstreams_in_float64(class_name):
    # The gapped layers regroup the decoder's sums; in float64 every
    # output and gradient is upstream's to 1e-10 (float32 rounding aside,
    # the same function), in training mode.
    reference, candidate = _pair(class_name, dim=16, K=20, numclasses=5)
    torch.manual_seed(1)
    hs = torch.randn(2, 16, 14, 14, dtype=torch.float64)
    labels = torch.tensor([1, 3])
    results = []
    for model in (reference.double(), candidate.double()):
        x = hs.clone().requires_grad_(True)
        x_tilde, hcat, z_q_x = model(x, labels)
        torch.manual_seed(2)
        _vq_losses(x_tilde, hcat, z_q_x, torch.randn_like(x_tilde)).backward()
        decoder_grads = [p.grad for p in model.decoder.parameters()]
        results.append((x_tilde, x.grad, *decoder_grads))
    for got, want in zip(results[1], results[0]):
        torch.testing.assert_close(
            got, want, rtol=1e-10, atol=1e-10 * want.abs().max().item()
        )


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(
    "partitioning, shared_keys", [(True, 0), (True, 10), (False, 0)]
)
def test_vq_functions_match_upstream(training, partitioning, shared_keys):
    torch.manual_seed(0)
    inputs = torch.randn(4, 7, 9, 32)  # [B, W, H, C], non-square
    codebook = torch.randn(120, 32)
    labels = torch.tensor([0.0, 3.0, 1.0, 2.0])
    args = (labels, 4, partitioning, shared_keys, training)

    ref_idx = upstream.VectorQuantization.apply(inputs, codebook, *args)
    our_idx = ours.VectorQuantization.apply(inputs, codebook, *args)
    assert torch.equal(ref_idx, our_idx)

    results = {}
    for name, module in (("ref", upstream), ("ours", ours)):
        x = inputs.clone().requires_grad_(True)
        c = codebook.clone().requires_grad_(True)
        codes, idx = module.VectorQuantizationStraightThrough.apply(x, c, *args)
        torch.manual_seed(3)
        (codes * torch.randn_like(codes)).sum().backward()
        results[name] = (codes, idx, x.grad, c.grad)
    assert torch.equal(results["ours"][1], results["ref"][1])
    for got, want in zip(results["ours"][2:], results["ref"][2:]):
        assert_fp32_close(got, want)
    assert_fp32_close(results["ours"][0], results["ref"][0])


@pytest.mark.parametrize(
    "batch, height, width, channels, training, shared_keys",
    [
        (16, 13, 16, 256, True, 0),  # conv2d recipe, training
        (6, 7, 7, 768, False, 0),  # ViT recipe, evaluation
        (8, 13, 16, 256, False, 24),  # shared keys allowed
    ],
)
def test_per_class_distances_choose_upstreams_keys_at_recipe_sizes(
    batch, height, width, channels, training, shared_keys
):
    # Each clip is measured against its class's ~K/50 keys only; the
    # chosen keys must still be exactly those of upstream's full matrix.
    torch.manual_seed(1)
    codebook = torch.randn(1024, channels)
    labels = torch.randint(0, 50, (batch,)).float()
    for _ in range(3):
        inputs = torch.randn(batch, height, width, channels)
        args = (labels, 50, True, shared_keys, training)
        assert torch.equal(
            ours.VectorQuantization.apply(inputs, codebook, *args),
            upstream.VectorQuantization.apply(inputs, codebook, *args),
        )


def test_distances_stay_float32_under_autocast():
    # A bf16 distance matrix would pick other keys; the chosen keys under
    # autocast must be the float32 ones.
    torch.manual_seed(2)
    inputs = torch.randn(16, 13, 16, 256)
    codebook = torch.randn(1024, 256)
    labels = torch.randint(0, 50, (16,))
    args = (labels, 50, True, 0, True)
    expected = ours.VectorQuantization.apply(inputs, codebook, *args)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = ours.VectorQuantization.apply(inputs, codebook, *args)
    assert torch.equal(got, expected)


def test_vq_is_not_differentiable():
    inputs = torch.randn(1, 2, 2, 4, requires_grad=True)
    codebook = torch.randn(8, 4)
    indices = ours.VectorQuantization.apply(
        inputs, codebook, torch.tensor([0]), 2, True, 0
    )
    assert not indices.requires_grad


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shared_keys", [0, 5])
def test_vq_embedding_straight_through_matches_upstream(training, shared_keys):
    reference, candidate = _pair(
        "VQEmbedding", K=60, D=16, numclasses=5, shared_keys=shared_keys
    )
    reference.train(training)
    candidate.train(training)
    torch.manual_seed(4)
    z = torch.randn(2, 16, 5, 8)
    labels = torch.tensor([3, 1])
    outputs = {}
    for name, model in (("ref", reference), ("ours", candidate)):
        x = z.clone().requires_grad_(True)
        st, zq = model.straight_through(x, labels)
        torch.manual_seed(5)
        ((st * torch.randn_like(st)).sum() + (zq**2).sum()).backward()
        outputs[name] = (st, zq, x.grad, model.embedding.weight.grad)
    for got, want in zip(outputs["ours"], outputs["ref"]):
        assert_fp32_close(got, want)


def test_vq_embedding_forward_honours_instance_settings():
    """Deliberate difference: upstream's ``VQEmbedding.forward`` ignores the
    instance's ``numclasses``/``shared_keys``/partitioning (falling back to
    10/10/True, and to the TRAIN stage); ours uses them, so ``forward``
    picks the keys ``straight_through`` uses. We match upstream's functions
    called with the instance's settings."""
    reference, candidate = _pair("VQEmbedding", K=60, D=16, numclasses=5)
    candidate.eval()
    z = torch.randn(2, 16, 5, 8)
    labels = torch.tensor([3, 1])
    expected = upstream.VectorQuantization.apply(
        z.permute(0, 2, 3, 1).contiguous(),
        reference.embedding.weight,
        labels,
        5,
        True,
        0,
        False,
    )
    assert torch.equal(candidate(z, labels), expected)
    # Every index lies inside the slice of the clip's own class.
    owners = ~ours.get_irrelevant_regions(labels, 60, 5, 0, "VALID")
    for clip in range(2):
        assert owners[clip, candidate(z, labels)[clip]].all()


def test_get_irrelevant_regions_matches_upstream():
    labels = torch.tensor([0.0, 4.0, 2.0, 9.0])
    for stage in ("TRAIN", "VALID"):
        for shared in (0, 7):
            got = ours.get_irrelevant_regions(labels, 1024, 10, shared, stage)
            want = upstream.get_irrelevant_regions(
                labels, 1024, 10, shared, stage
            )
            assert torch.equal(got, want)


def test_encoder_and_resblock_match_upstream():
    reference, candidate = _pair("Conv2dEncoder_v2", dim=16)
    x = torch.randn(2, 67, 45)
    assert_fp32_close(candidate(x), reference(x))
    reference, candidate = _pair("ResBlockAudio", dim=8)
    x = torch.randn(2, 8, 5, 7)
    assert_fp32_close(candidate(x), reference(x))


def test_class_partitioning_builds_no_per_position_mask(monkeypatch):
    """The partition is a [num_classes, K] table built once per setting,
    never a [B*H*W, K] mask; each clip gathers its class's keys."""
    from speechbrain_piq.lobes.models import quantization

    seen = []
    original = quantization.get_irrelevant_regions

    def spy(labels, *args, **kwargs):
        seen.append(labels.shape)
        return original(labels, *args, **kwargs)

    monkeypatch.setattr(quantization, "get_irrelevant_regions", spy)
    quantization._allowed_keys.cache_clear()
    vq = ours.VQEmbedding(64, 8, numclasses=4)
    for _ in range(3):
        vq(torch.randn(3, 8, 13, 16), torch.tensor([0, 1, 3]))
    assert seen == [torch.Size([4])]


def test_bad_input_errors_name_the_values():
    psi = ours.VectorQuantizedPSI_Audio(dim=8, K=20, numclasses=4)
    hs = torch.randn(2, 8, 4, 4)
    with pytest.raises(ValueError, match="needs the predicted labels"):
        psi(hs, None)
    with pytest.raises(ValueError, match=r"\[0, 4\).*from 0 to 4"):
        psi(hs, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"from -1 to 1"):
        psi(hs, torch.tensor([-1, 1]))
    with pytest.raises(ValueError, match="16 channels.*dim=8"):
        psi(torch.randn(2, 16, 4, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"\[B, C, H, W\].*\(2, 8, 4\)"):
        psi(torch.randn(2, 8, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="20 - 17 = 3 dictionary keys among 4"):
        ours.VectorQuantizedPSI_Audio(dim=8, K=20, numclasses=4, shared_keys=17)
    with pytest.raises(ValueError, match="3 labels for a batch of 2"):
        psi(hs, torch.tensor([0, 1, 2]))


def test_psi_without_partitioning_needs_no_labels():
    psi = ours.VectorQuantizedPSI_Audio(
        dim=8, K=20, numclasses=4, activate_class_partitioning=False
    )
    x_tilde, _, _ = psi(torch.randn(1, 8, 4, 6), None)
    assert torch.isfinite(x_tilde).all()


def test_hyperpyyaml_builds_the_lobe():
    hparams = load_hyperpyyaml(
        """
        psi: !new:speechbrain_piq.lobes.models.PIQ.VectorQuantizedPSIViT_Audio
            dim: 32
            K: 64
            numclasses: 10
            shared_keys: 2
        """
    )
    psi = hparams["psi"]
    assert isinstance(psi, ours.VectorQuantizedPSIViT_Audio)
    assert psi.codebook.shared_keys == 2
    assert psi.codebook.embedding.weight.shape == (64, 32)
