"""The training loader's batches: an epoch's (record, window start) items, the windows cut from the signal cache,
each rank's share of a global batch, and the same batches from spawned loader workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from trained_model import learnable_data

from ecg12.batches import EpochBatchSampler, ShardedBatches, WindowDataset, millivolts, shard
from ecg12.classes import scored_classes
from ecg12.distributed import Rank
from ecg12.preprocess import WINDOW_SAMPLES
from ecg12.signal_cache import load_or_build_cache


def test_an_epoch_is_every_record_once_per_pass_with_starts_within_the_shift_and_no_batch_of_one() -> None:
    lengths = np.array([WINDOW_SAMPLES, 2 * WINDOW_SAMPLES, WINDOW_SAMPLES // 2, 3 * WINDOW_SAMPLES])
    records = np.array([0, 1, 3])  # record 2 is not in this split
    sampler = EpochBatchSampler(lengths, records, batch_size=4, min_epoch_windows=8, max_shift=100, seed=5)
    items = [item for batch in sampler for item in batch]
    # 8 windows from 3 records: 3 passes (9 items), in batches of 4, 4 and 1; the batch of one is dropped.
    assert [len(batch) for batch in sampler] == [4, 4] == [len(b) for b in sampler.batches] and len(sampler) == 2
    assert sorted(record for record, _ in items[:6]) == [0, 0, 1, 1, 3, 3]  # each pass holds every record once
    for record, start in items:
        assert -100 <= start <= max(lengths[record] - WINDOW_SAMPLES, 0) + 100
    first = [list(batch) for batch in sampler]
    sampler.set_epoch(1)
    assert [list(batch) for batch in sampler] != first  # a fresh order and fresh starts each epoch
    sampler.set_epoch(0)
    assert [list(batch) for batch in sampler] == first  # drawn from (seed, epoch) alone


def test_a_window_is_the_caches_samples_zero_filled_outside_and_millivolts_as_the_cache_gives(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    cache = load_or_build_cache(learnable_data(tmp_path_factory), tmp_path / "cache")
    labels = scored_classes().encode(cache.codes)
    dataset = WindowDataset(cache, labels)
    length = int(cache.lengths[2])
    window, features, label = dataset[(2, -300)]  # shifted 300 samples before the recording's start
    assert window.dtype == np.int16 and window.shape == (12, WINDOW_SAMPLES)
    assert not window[:, :300].any()
    np.testing.assert_array_equal(window[:, 300:], cache.microvolts(2, 0, WINDOW_SAMPLES - 300).T)
    np.testing.assert_array_equal(features, cache.features[2])
    np.testing.assert_array_equal(label, labels[2].astype(np.float32))
    late, _, _ = dataset[(2, length - 100)]  # runs past the end
    assert late[:, :100].any() and not late[:, 100:].any()
    expected = torch.from_numpy(cache.signal(2, 0, WINDOW_SAMPLES - 300))
    torch.testing.assert_close(millivolts(torch.from_numpy(window[:, 300:].copy())), expected, rtol=0, atol=0)


def test_the_ranks_share_every_global_batch_and_take_the_same_number_of_steps() -> None:
    batches = [list(range(10)), list(range(10, 13)), list(range(13, 17))]  # 10, 3 and 4 items
    shares = [list(ShardedBatches(batches, Rank(rank, 2))) for rank in (0, 1)]
    assert [len(s) for s in shares] == [2, 2] == [len(ShardedBatches(batches, Rank(rank, 2))) for rank in (0, 1)]
    # The batch of 3 cannot give each of 2 ranks two items: both drop it. Every other item goes to one rank.
    served = sorted(item for rank_batches in shares for batch in rank_batches for item in batch)
    assert served == [*range(10), *range(13, 17)]
    assert shard(list(range(10)), Rank(1, 3)) == [1, 4, 7]


@pytest.mark.slow
def test_spawned_loader_workers_deliver_the_same_batches(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    cache = load_or_build_cache(learnable_data(tmp_path_factory), tmp_path / "cache")
    labels = scored_classes().encode(cache.codes)
    sampler = EpochBatchSampler(
        cache.lengths, np.arange(len(cache)), batch_size=4, min_epoch_windows=8, max_shift=500, seed=2
    )
    dataset = WindowDataset(cache, labels)
    in_process = list(DataLoader(dataset, batch_sampler=sampler))
    spawned = DataLoader(
        dataset, batch_sampler=sampler, num_workers=1, multiprocessing_context="spawn", persistent_workers=True
    )
    for epoch in (0, 1):  # the same persistent worker serves the next epoch's batches
        sampler.set_epoch(epoch)
        expected = in_process if epoch == 0 else list(DataLoader(dataset, batch_sampler=sampler))
        batches = list(spawned)
        assert len(batches) == len(expected) > 0
        for got, want in zip(batches, expected, strict=True):
            for got_part, want_part in zip(got, want, strict=True):
                torch.testing.assert_close(got_part, want_part, rtol=0, atol=0, equal_nan=True)
    assert in_process[0][0].dtype == torch.int16  # windows travel as int16 µV
