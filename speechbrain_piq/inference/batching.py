"""Splitting a padded batch into clips that can be interpreted alone.

The classifier pools over every frame it is given, so the zeros SpeechBrain
pads a batch with would change a short clip's prediction and mask. Clips are
trimmed to their own lengths and only clips of equal length share a forward
pass.
"""

import torch

from speechbrain_piq.dataio.clips import all_finite


def split_batch(wavs, wav_lens=None):
    """Splits a padded batch into its clips, each trimmed to its length.

    Arguments
    ---------
    wavs : torch.Tensor
        ``[batch, time]``, ``[batch, time, channels]`` (channels are
        averaged) or ``[time]``.
    wav_lens : torch.Tensor, optional
        ``[batch]`` relative lengths in (0, 1].

    Returns
    -------
    list of torch.Tensor
        ``[samples]`` float32 clips.

    Raises
    ------
    ValueError
        For a wrong shape, an empty or non-finite clip, or bad lengths.

    Example
    -------
    >>> clips = split_batch(torch.ones(2, 10), torch.tensor([1.0, 0.5]))
    >>> [clip.shape[0] for clip in clips]
    [10, 5]
    >>> split_batch(torch.ones(1, 4, requires_grad=True))[0].requires_grad
    False
    >>> split_batch(torch.tensor([[0.0, float("nan")]]))
    Traceback (most recent call last):
    ...
    ValueError: clip 0 has NaN or infinite samples; replace them (e.g. torch.nan_to_num) before interpreting
    """
    if not isinstance(wavs, torch.Tensor) or wavs.dim() not in (1, 2, 3):
        raise ValueError(
            "wavs must be a tensor [batch, time], [batch, time, channels] "
            f"or [time], got {getattr(wavs, 'shape', type(wavs).__name__)}"
        )
    # Interpretation never backpropagates into the input, and a clip that
    # requires grad could not be saved or plotted through numpy.
    wavs = wavs.detach().float()
    if wavs.dim() == 1:
        wavs = wavs.unsqueeze(0)
    elif wavs.dim() == 3:
        wavs = wavs.mean(dim=-1)  # batch time channels -> batch time
    batch, time = wavs.shape
    if batch == 0 or time == 0:
        raise ValueError(f"wavs holds no audio (shape {tuple(wavs.shape)})")
    lengths = _absolute_lengths(wav_lens, batch, time)
    clips = []
    for index, length in enumerate(lengths):
        clip = wavs[index, :length].cpu()
        if not all_finite(clip):
            raise ValueError(
                f"clip {index} has NaN or infinite samples; replace them "
                "(e.g. torch.nan_to_num) before interpreting"
            )
        clips.append(clip)
    return clips


def _absolute_lengths(wav_lens, batch, time):
    """Samples per clip from SpeechBrain's relative lengths."""
    if wav_lens is None:
        return [time] * batch
    wav_lens = torch.as_tensor(wav_lens, dtype=torch.float32).cpu()
    if wav_lens.shape != (batch,):
        raise ValueError(
            f"wav_lens must have one relative length per clip, shape "
            f"[{batch}], got {list(wav_lens.shape)}"
        )
    if not bool(((wav_lens > 0) & (wav_lens <= 1)).all()):
        raise ValueError(
            f"wav_lens must lie in (0, 1] (relative lengths), got "
            f"{wav_lens.tolist()}"
        )
    lengths = torch.round(wav_lens * time).long().clamp(min=1, max=time)
    return lengths.tolist()


def same_length_groups(clips):
    """Indices of the clips, grouped by length (first appearance order).

    Arguments
    ---------
    clips : list of torch.Tensor
        ``[samples]`` clips.

    Returns
    -------
    list of list of int

    Example
    -------
    >>> same_length_groups([torch.ones(3), torch.ones(5), torch.ones(3)])
    [[0, 2], [1]]
    """
    groups = {}
    for index, clip in enumerate(clips):
        groups.setdefault(clip.shape[0], []).append(index)
    return list(groups.values())
