import json
import logging
import math

import pytest
import torch
import torch.multiprocessing

from speechbrain_piq.metrics import stage_stats
from speechbrain_piq.metrics.stage_stats import StageMetrics

NAN = float("nan")


def shard(rank):
    """Batches of one rank: uneven sizes, NaN entries, a scalar loss, and a
    metric only rank 1 reports."""
    generator = torch.Generator().manual_seed(rank)
    batches = []
    for batch_size in (3, 1, 4 + rank):
        sps = torch.rand(batch_size, generator=generator)
        sps[0] = NAN
        batch = {
            "ai": (torch.rand(batch_size, generator=generator) > 0.5) * 100.0,
            "sps": sps,
            "fid_in": torch.rand(batch_size, generator=generator) > 0.5,
            "loss": torch.rand((), generator=generator),
        }
        if rank == 1:
            batch["only_rank1"] = torch.full((batch_size,), 2.0)
        batches.append(batch)
    return batches


def concatenated_means(batches):
    means = {}
    for name in sorted({name for batch in batches for name in batch}):
        values = torch.cat(
            [
                batch[name].double().reshape(-1)
                for batch in batches
                if name in batch
            ]
        )
        means[name] = values[~values.isnan()].mean().item()
    return means


def summarize(batches):
    stats = StageMetrics()
    for batch in batches:
        stats.append(batch)
    return stats.summarize()


def assert_same_summary(summary, expected):
    assert list(summary) == sorted(expected)
    for name, value in expected.items():
        assert summary[name] == pytest.approx(value, rel=1e-12), name


def test_mean_over_appends_equals_mean_over_concatenation():
    batches = shard(0) + shard(1)
    assert_same_summary(summarize(batches), concatenated_means(batches))


def test_nan_scores_are_left_out_and_reported(caplog):
    stats = StageMetrics()
    stats.append({"comp": torch.tensor([1.0, NAN, 3.0])})
    stats.append({"comp": torch.tensor([NAN]), "never": torch.tensor([NAN])})
    with caplog.at_level(logging.WARNING):
        summary = stats.summarize()
    assert summary["comp"] == 2.0
    assert math.isnan(summary["never"])
    assert "2 of 4 'comp' scores were NaN" in caplog.text
    assert "no defined 'never' score" in caplog.text


def test_clips_without_a_distractor_are_no_warning(caplog):
    stats = StageMetrics()
    stats.append(
        {
            "distractor_mass": torch.tensor([0.1, NAN, NAN]),
            "distractor_box_share": torch.tensor([NAN, NAN, NAN]),
            "comp": torch.tensor([NAN, 1.0, 1.0]),
        }
    )
    with caplog.at_level(logging.DEBUG, logger=stage_stats.__name__):
        summary = stats.summarize()
    assert summary["distractor_mass"] == pytest.approx(0.1)
    assert math.isnan(summary["distractor_box_share"])
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warned] == [
        "StageMetrics: 1 of 3 'comp' scores were NaN (undefined for those "
        "clips, e.g. an all-zero mask) and are left out of its mean"
    ]
    assert "2 of 3 'distractor_mass' scores were NaN" in caplog.text


def test_infinite_scores_are_kept_visible():
    stats = StageMetrics()
    stats.append({"ag": torch.tensor([1.0, float("inf"), NAN])})
    assert stats.summarize() == {"ag": float("inf")}


def test_scalars_count_once_per_append():
    stats = StageMetrics()
    stats.append({"loss": torch.tensor(1.0)})
    stats.append({"loss": 2})
    stats.append({"loss": torch.tensor([6.0])})
    assert stats.summarize() == {"loss": 3.0}


def test_reset_forgets_everything():
    stats = StageMetrics()
    stats.append({"ai": torch.ones(2)})
    stats.reset()
    assert stats.summarize() == {}
    stats.append({"ad": torch.zeros(2)})
    assert stats.summarize() == {"ad": 0.0}


def test_append_keeps_no_graph_and_stays_on_the_scores_device():
    scores = torch.ones(3, requires_grad=True) * 2
    stats = StageMetrics()
    stats.append({"ff": scores})
    assert not stats.totals["ff"].requires_grad
    assert stats.totals["ff"].device == scores.device


def test_sums_follow_device_scores_after_a_leading_number():
    # "meta" stands in for a GPU: any non-CPU device must take the sums over
    stats = StageMetrics()
    stats.append({"loss": 0})
    stats.append({"loss": torch.ones((), device="meta")})
    assert stats.totals["loss"].device.type == "meta"


def test_bad_scores_get_clear_errors():
    stats = StageMetrics()
    with pytest.raises(ValueError, match=r"'ff' must have shape \[batch\]"):
        stats.append({"ff": torch.ones(2, 3)})
    with pytest.raises(TypeError, match="'ff' must be a tensor"):
        stats.append({"ff": "0.5"})


def ddp_worker(rank, world_size, init_file, out_dir):
    torch.distributed.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=world_size,
    )
    try:
        summary = summarize(shard(rank))
    finally:
        torch.distributed.destroy_process_group()
    with open(f"{out_dir}/rank{rank}.json", "w", encoding="utf-8") as out:
        json.dump(summary, out)


def test_ddp_summary_equals_single_process_over_both_shards(tmp_path):
    world_size = 2
    torch.multiprocessing.spawn(
        ddp_worker,
        args=(world_size, str(tmp_path / "init"), str(tmp_path)),
        nprocs=world_size,
    )
    expected = summarize(shard(0) + shard(1))
    assert expected == pytest.approx(concatenated_means(shard(0) + shard(1)))
    for rank in range(world_size):
        with open(tmp_path / f"rank{rank}.json", encoding="utf-8") as f:
            summary = json.load(f)
        assert list(summary) == list(expected)
        for name, value in expected.items():
            assert summary[name] == pytest.approx(value, rel=1e-12), name
