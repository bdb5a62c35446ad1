"""Class-partitioned vector quantization, the heart of PIQ.

PIQ quantizes a classifier's representation with a dictionary whose keys are
split among the classes: a clip predicted as class ``c`` may only use the keys
of class ``c`` (plus, outside training, the shared keys). This module holds
that dictionary and the two autograd functions of the public API.

Upstream (``speechbrain.lobes.models.PIQ``) computes the ``[B*H*W, K]``
distances to every key, builds the partition as a ``[B*H*W, K]`` float mask
by repetition, then writes ``inf`` through boolean indexing. Here each clip
measures distances to its own class's keys only (``K / num_classes`` of
them, gathered from a ``[num_classes, M]`` table built once per setting),
with upstream's expression summed in the same order, so on the CPU the
distances, and hence the chosen keys, equal upstream's exactly, at about
``num_classes`` times fewer operations and no ``[B*H*W, K]`` buffer. (On a
GPU, cuBLAS may round other matrix shapes differently: the keys can then
differ only where two distances tie to float32 rounding.)

Authors
 * speechbrain-piq contributors, after Cem Subakan and Francesco Paissan
"""

import functools

import torch
import torch.nn as nn
from torch.autograd import Function


def _key_owners(K, num_classes, N_shared):
    """Class owning each dictionary key (float), ``-1`` for shared keys.

    Computed on the CPU, as upstream does, so that rounding of the class
    boundaries is identical on every device.
    """
    owners = torch.round(torch.linspace(-0.5, num_classes - 0.51, K - N_shared))
    return torch.cat([owners, owners.new_full((N_shared,), -1.0)])


def get_irrelevant_regions(labels, K, num_classes, N_shared=5, stage="TRAIN"):
    """Tells, for each label, which dictionary keys belong to other classes.

    The first ``K - N_shared`` keys are split evenly among the classes; the
    last ``N_shared`` keys are shared. In stage ``"TRAIN"`` the shared keys
    count as irrelevant; in any other stage they are allowed.

    Arguments
    ---------
    labels : torch.Tensor
        Class labels, shape ``[B]``.
    K : int
        Number of keys in the dictionary.
    num_classes : int
        Number of possible classes.
    N_shared : int
        Number of shared keys (the last ones).
    stage : str
        ``"TRAIN"`` or any other stage name.

    Returns
    -------
    irrelevant_regions : torch.Tensor
        Boolean ``[B, K]``: True where a key may not be used for that label.

    Example
    -------
    >>> labels = torch.Tensor([1, 0, 2])
    >>> irrelevant_regions = get_irrelevant_regions(labels, 20, 3, 5)
    >>> print(irrelevant_regions.shape)
    torch.Size([3, 20])
    """
    owners = _key_owners(K, num_classes, N_shared).to(labels.device)
    irrelevant = owners != labels.reshape(-1, 1).to(owners.dtype)
    if stage != "TRAIN" and N_shared > 0:
        irrelevant[:, K - N_shared :] = False
    return irrelevant


def check_partition(K, num_classes, shared_keys):
    """Raises ``ValueError`` unless every class gets at least one key.

    Arguments
    ---------
    K : int
        Number of keys in the dictionary.
    num_classes : int
        Number of classes sharing the dictionary.
    shared_keys : int
        Number of keys shared among all classes.

    Example
    -------
    >>> check_partition(1024, 50, 0)
    >>> check_partition(40, 50, 0)
    Traceback (most recent call last):
    ...
    ValueError: cannot split K - shared_keys = 40 - 0 = 40 dictionary keys among 50 classes: use K >= 50 + shared_keys.
    """
    if shared_keys < 0 or K - shared_keys < num_classes:
        raise ValueError(
            f"cannot split K - shared_keys = {K} - {shared_keys} = "
            f"{K - shared_keys} dictionary keys among {num_classes} "
            f"classes: use K >= {num_classes} + shared_keys."
        )


def _check_labels(labels, batch_size, num_classes):
    """Raises ``ValueError`` for missing, misshaped or out-of-range labels."""
    if labels is None:
        raise ValueError(
            "class partitioning is on, so the quantizer needs the predicted "
            "labels: pass labels of shape [B], or build the module with "
            "activate_class_partitioning=False."
        )
    if labels.numel() != batch_size:
        raise ValueError(
            f"got {labels.numel()} labels for a batch of {batch_size} "
            "representations: pass one label per clip."
        )
    # One device sync for both bounds.
    low, high = torch.stack(torch.aminmax(labels.float())).tolist()
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"labels must lie in [0, {num_classes}) (num_classes = "
            f"{num_classes}) but range from {low:g} to {high:g}."
        )


@functools.lru_cache(maxsize=64)
def _allowed_keys(K, num_classes, shared_keys, training, device):
    """Each class's allowed keys, built once per setting and device.

    Returns ``keys``, ``[num_classes, M]`` indices of the allowed keys in
    increasing order (``M``: the most any class has), and ``padding``,
    ``[num_classes, M]``, True where a row is shorter than ``M`` (its
    entries there are other keys, to be ignored).
    """
    classes = torch.arange(num_classes, dtype=torch.float32)
    stage = "TRAIN" if training else "VALID"
    allowed = ~get_irrelevant_regions(
        classes, K, num_classes, shared_keys, stage
    )
    counts = allowed.sum(dim=1, keepdim=True)
    width = int(counts.max())
    # A stable sort of "not allowed" puts each row's allowed keys first,
    # in increasing order.
    keys = torch.sort((~allowed).to(torch.uint8), dim=1, stable=True).indices
    padding = torch.arange(width) >= counts
    return keys[:, :width].to(device), padding.to(device)


def _class_key_distances(flat, codebook, labels, keys, padding):
    """Distances from each clip's positions to its class's keys only.

    Same expression as upstream's full ``[B*H*W, K]`` matrix, restricted to
    the ``M`` allowed keys of each clip (``M`` ~ ``K / num_classes``):
    ``|k|^2 + |x|^2 - 2 x.k``, the products summed over the same channels
    in the same order, so on the CPU the values equal upstream's bit for
    bit. Returns ``[B, H*W, M]``, ``inf`` on padding.
    """
    clip_keys = codebook[keys[labels]]  # B M C
    positions = flat.view(len(labels), -1, flat.shape[-1])  # B HW C
    distances = torch.sum(clip_keys**2, dim=2).unsqueeze(1) + torch.sum(
        positions**2, dim=2, keepdim=True
    )
    distances = torch.baddbmm(
        distances, positions, clip_keys.transpose(1, 2), alpha=-2.0, beta=1.0
    )
    return distances.masked_fill_(padding[labels].unsqueeze(1), float("inf"))


def nearest_code_indices(
    inputs,
    codebook,
    labels=None,
    num_classes=10,
    activate_class_partitioning=True,
    shared_keys=10,
    training=True,
):
    """Index of the nearest allowed dictionary key for every position.

    Arguments
    ---------
    inputs : torch.Tensor
        Representations, channels last: ``[B, H, W, C]``.
    codebook : torch.Tensor
        Dictionary, ``[K, C]``.
    labels : torch.Tensor
        Class of each clip, ``[B]``; needed when partitioning.
    num_classes : int
        Number of classes sharing the dictionary.
    activate_class_partitioning : bool
        Restrict each clip to its class's keys.
    shared_keys : int
        Number of keys shared among classes (allowed outside training).
    training : bool
        True in stage TRAIN (shared keys are then excluded).

    Returns
    -------
    indices : torch.Tensor
        ``[B, H, W]`` long tensor of dictionary indices.

    Example
    -------
    >>> codebook = torch.eye(4)
    >>> inputs = codebook[[3, 0]].reshape(2, 1, 1, 4)
    >>> nearest_code_indices(inputs, codebook, torch.tensor([1, 0]), 2, True, 0)
    tensor([[[3]],
    <BLANKLINE>
            [[0]]])
    """
    if inputs.ndim != 4:
        raise ValueError(
            f"expected representations of shape [B, H, W, C], got "
            f"{tuple(inputs.shape)}."
        )
    K, channels = codebook.shape
    if inputs.shape[-1] != channels:
        raise ValueError(
            f"representations have {inputs.shape[-1]} channels but the "
            f"dictionary keys have {channels}: set the PSI/VQ dim to "
            f"{inputs.shape[-1]}."
        )
    batch_size = inputs.shape[0]
    # Under autocast the representation may be bf16/fp16: measure distances
    # in the dictionary's precision, with autocast off (it would run the
    # matrix products in bf16/fp16).
    full_precision = torch.autocast(inputs.device.type, enabled=False)
    with torch.no_grad(), full_precision:
        flat = inputs.reshape(-1, channels).to(codebook.dtype)
        if activate_class_partitioning:
            check_partition(K, num_classes, shared_keys)
            _check_labels(labels, batch_size, num_classes)
            keys, padding = _allowed_keys(
                K, num_classes, shared_keys, bool(training), flat.device
            )
            labels = labels.reshape(-1).long()
            distances = _class_key_distances(
                flat, codebook, labels, keys, padding
            )
            # argmin keeps the first of equal distances, as upstream's
            # does over the full row: keys are in increasing order.
            nearest = keys[labels].gather(1, distances.argmin(dim=2))
            return nearest.view(inputs.shape[:-1])
        # Same expression as upstream, so that ties and rounding agree.
        distances = torch.sum(codebook**2, dim=1) + torch.sum(
            flat**2, dim=1, keepdim=True
        )
        distances.addmm_(flat, codebook.t(), alpha=-2.0, beta=1.0)
        return distances.argmin(dim=1).view(inputs.shape[:-1])


class VectorQuantization(Function):
    """Forward of vector quantization: the nearest allowed key per position.

    VQ is not differentiable: calling backward through it raises a
    ``RuntimeError`` that points to ``VectorQuantizationStraightThrough``.
    """

    @staticmethod
    def forward(
        ctx,
        inputs,
        codebook,
        labels=None,
        num_classes=10,
        activate_class_partitioning=True,
        shared_keys=10,
        training=True,
    ):
        """Applies VQ to ``inputs`` with ``codebook`` as dictionary.

        Arguments
        ---------
        ctx : torch.autograd.function.FunctionCtx
            Autograd context.
        inputs : torch.Tensor
            Hidden representations, shape ``[B, W, H, C]``.
        codebook : torch.Tensor
            Dictionary, shape ``[K, C]``.
        labels : torch.Tensor
            Class labels, shape ``[B]``: the class whose keys each clip
            may use.
        num_classes : int
            Number of classes.
        activate_class_partitioning : bool
            Quantize per class.
        shared_keys : int
            Keys shared among classes.
        training : bool
            True in stage TRAIN.

        Returns
        -------
        indices : torch.Tensor
            Codebook indices of the quantized representation, ``[B, W, H]``.

        Example
        -------
        >>> inputs = torch.ones(3, 14, 25, 256)
        >>> codebook = torch.randn(1024, 256)
        >>> labels = torch.Tensor([1, 0, 2])
        >>> print(VectorQuantization.apply(inputs, codebook, labels).shape)
        torch.Size([3, 14, 25])
        """
        indices = nearest_code_indices(
            inputs,
            codebook,
            labels,
            num_classes,
            activate_class_partitioning,
            shared_keys,
            training,
        )
        ctx.mark_non_differentiable(indices)
        return indices

    @staticmethod
    def backward(ctx, grad_output):
        """Refuses: quantization has no gradient."""
        raise RuntimeError(
            "Trying to call `.grad()` on graph containing "
            "`VectorQuantization`. The function `VectorQuantization` "
            "is not differentiable. Use `VectorQuantizationStraightThrough` "
            "if you want a straight-through estimator of the gradient."
        )


class VectorQuantizationStraightThrough(Function):
    """Vector quantization with a straight-through gradient.

    The gradient is approximated as in van den Oord et al.
    (arXiv 1711.00937): quantization acts as the identity for the inputs,
    and the codebook receives the gradient accumulated at the chosen keys.
    """

    @staticmethod
    def forward(
        ctx,
        inputs,
        codebook,
        labels=None,
        num_classes=10,
        activate_class_partitioning=True,
        shared_keys=10,
        training=True,
    ):
        """Quantizes ``inputs``; see ``VectorQuantization.forward``.

        Arguments
        ---------
        ctx : torch.autograd.function.FunctionCtx
            Autograd context.
        inputs : torch.Tensor
            Hidden representations, shape ``[B, W, H, C]``.
        codebook : torch.Tensor
            Dictionary, shape ``[K, C]``.
        labels : torch.Tensor
            Class labels, shape ``[B]``.
        num_classes : int
            Number of classes.
        activate_class_partitioning : bool
            Quantize per class.
        shared_keys : int
            Keys shared among classes.
        training : bool
            True in stage TRAIN.

        Returns
        -------
        codes : torch.Tensor
            Quantized representation, shaped like ``inputs``.
        indices : torch.Tensor
            Flattened codebook indices, ``[B * W * H]``.

        Example
        -------
        >>> inputs = torch.ones(3, 14, 25, 256)
        >>> codebook = torch.randn(1024, 256)
        >>> labels = torch.Tensor([1, 0, 2])
        >>> quant, quant_ind = VectorQuantizationStraightThrough.apply(
        ...     inputs, codebook, labels
        ... )
        >>> print(quant.shape, quant_ind.shape)
        torch.Size([3, 14, 25, 256]) torch.Size([1050])
        """
        indices = nearest_code_indices(
            inputs,
            codebook,
            labels,
            num_classes,
            activate_class_partitioning,
            shared_keys,
            training,
        ).view(-1)
        ctx.save_for_backward(indices)
        ctx.codebook_shape = codebook.shape
        ctx.mark_non_differentiable(indices)
        codes = codebook.index_select(0, indices).view_as(inputs)
        return codes, indices

    @staticmethod
    def backward(ctx, grad_output, grad_indices):
        """Straight-through gradient for the inputs; summed per key for the
        codebook."""
        grad_inputs = grad_codebook = None
        if ctx.needs_input_grad[0]:
            grad_inputs = grad_output
        if ctx.needs_input_grad[1]:
            (indices,) = ctx.saved_tensors
            grad_codebook = grad_output.new_zeros(ctx.codebook_shape)
            grad_codebook.index_add_(
                0, indices, grad_output.reshape(-1, ctx.codebook_shape[1])
            )
        return grad_inputs, grad_codebook, None, None, None, None, None


class VQEmbedding(nn.Module):
    """The class-partitioned VQ dictionary.

    Arguments
    ---------
    K : int
        Number of dictionary keys.
    D : int
        Dimension of each key.
    numclasses : int
        Number of classes sharing the dictionary.
    activate_class_partitioning : bool
        Restrict each clip to the keys of its class.
    shared_keys : int
        Keys shared among classes (the last ``shared_keys`` keys).

    Example
    -------
    >>> inputs = torch.ones(3, 256, 14, 25)
    >>> codebook = VQEmbedding(1024, 256)
    >>> labels = torch.Tensor([1, 0, 2])
    >>> print(codebook(inputs, labels).shape)
    torch.Size([3, 14, 25])
    >>> quant, quant_ind = codebook.straight_through(inputs, labels)
    >>> print(quant.shape, quant_ind.shape)
    torch.Size([3, 256, 14, 25]) torch.Size([3, 256, 14, 25])
    """

    def __init__(
        self,
        K,
        D,
        numclasses=50,
        activate_class_partitioning=True,
        shared_keys=0,
    ):
        super().__init__()
        if activate_class_partitioning:
            check_partition(K, numclasses, shared_keys)
        self.embedding = nn.Embedding(K, D)
        self.embedding.weight.data.uniform_(-1.0 / K, 1.0 / K)
        self.numclasses = numclasses
        self.activate_class_partitioning = activate_class_partitioning
        self.shared_keys = shared_keys

    def _indices(self, z_e_x, labels):
        """Nearest allowed key for a ``[B, C, H, W]`` input, ``[B, H, W]``."""
        if z_e_x.ndim != 4:
            raise ValueError(
                f"VQEmbedding expects [B, C, H, W] representations, got "
                f"shape {tuple(z_e_x.shape)}."
            )
        return nearest_code_indices(
            z_e_x.permute(0, 2, 3, 1),
            self.embedding.weight.detach(),
            labels,
            self.numclasses,
            self.activate_class_partitioning,
            self.shared_keys,
            self.training,
        )

    def forward(self, z_e_x, labels=None):
        """Dictionary indices for the input (not differentiable).

        Unlike upstream, which silently falls back to ``num_classes=10,
        shared_keys=10``, this honours the instance's ``numclasses``,
        ``shared_keys``, ``activate_class_partitioning`` and training mode,
        so it picks the same keys as ``straight_through``.

        Arguments
        ---------
        z_e_x : torch.Tensor
            Representations, ``[B, C, H, W]``.
        labels : torch.Tensor
            Class of each clip, ``[B]``.

        Returns
        -------
        indices : torch.Tensor
            ``[B, H, W]`` dictionary indices.
        """
        return self._indices(z_e_x, labels)

    def straight_through(self, z_e_x, labels=None):
        """Quantization with the straight-through gradient.

        Arguments
        ---------
        z_e_x : torch.Tensor
            Representations, ``[B, C, H, W]``.
        labels : torch.Tensor
            Class of each clip, ``[B]``.

        Returns
        -------
        z_q_x_st : torch.Tensor
            Quantized representation whose gradient flows to ``z_e_x``
            unchanged (straight through), ``[B, C, H, W]``.
        z_q_x : torch.Tensor
            Quantized representation carrying the gradient to the
            dictionary, ``[B, C, H, W]``.
        """
        codes = self.embedding(self._indices(z_e_x, labels))  # b h w c
        z_e_x_last = z_e_x.permute(0, 2, 3, 1)
        # Straight through: the value is exactly ``codes`` (z - z == 0),
        # the gradient w.r.t. ``z_e_x`` the identity.
        z_q_x_st = codes.detach() + (z_e_x_last - z_e_x_last.detach())
        # Contiguous like upstream: the decoder then runs the very same
        # convolution kernels (these maps are small, the copy is cheap).
        return (
            z_q_x_st.permute(0, 3, 1, 2).contiguous(),
            codes.permute(0, 3, 1, 2).contiguous(),
        )
