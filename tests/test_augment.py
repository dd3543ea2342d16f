"""Training-time augmentation: the paper's noise as before, and the database perturbations as specified."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecg12.augment import MAINS_HZ, WANDER_HZ, SignalAugmentation
from ecg12.config import TARGET_FREQUENCY, TrainConfig
from ecg12.distributed import Rank

LEADS, SAMPLES = 12, 5000


def windows(batch: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, LEADS, SAMPLES, generator=torch.Generator().manual_seed(seed))


def generator(seed: int = 7) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_nothing_set_changes_nothing_and_draws_nothing() -> None:
    signals, random = windows(), generator()
    state = random.get_state()
    assert torch.equal(SignalAugmentation()(signals, random), signals)
    assert torch.equal(random.get_state(), state)


def test_the_noise_alone_is_the_papers_noise_drawn_as_before() -> None:
    signals = windows()
    expected = signals + 0.05 * torch.randn(signals.shape, generator=generator())
    assert torch.equal(SignalAugmentation(noise_std=0.05)(signals, generator()), expected)
    assert SignalAugmentation.of(TrainConfig()) == SignalAugmentation(noise_std=0.05)  # the default recipe: noise only


@pytest.mark.slow
def test_gains_scale_whole_windows_and_then_each_lead() -> None:
    signals = windows(batch=400).abs() + 0.1
    window_only = SignalAugmentation(gain_std=0.3)(signals, generator()) / signals
    per_window = window_only[:, :1, :1]
    torch.testing.assert_close(window_only, per_window.expand_as(window_only))  # one factor per window
    assert float(per_window.log().std()) == pytest.approx(0.3, rel=0.15)
    with_leads = SignalAugmentation(lead_gain_std=0.2)(signals, generator()) / signals
    per_lead = with_leads[:, :, :1]
    torch.testing.assert_close(with_leads, per_lead.expand_as(with_leads))  # constant in time
    assert float(per_lead.log().std()) == pytest.approx(0.2, rel=0.15)
    assert float((per_lead[:, 0] - per_lead[:, 1]).abs().mean()) > 0.01  # leads differ


def dominant_frequencies(added: torch.Tensor) -> np.ndarray:
    """The frequency (Hz) of the largest spectral peak of each lead of each window."""
    spectrum = np.abs(np.fft.rfft(added.numpy(), axis=-1))
    frequencies = np.fft.rfftfreq(added.shape[-1], 1 / TARGET_FREQUENCY)
    return frequencies[spectrum[..., 1:].argmax(axis=-1) + 1]


@pytest.mark.slow
def test_baseline_wander_is_slow_and_bounded_and_mains_is_at_50_or_60_hz() -> None:
    signals = torch.zeros(64, LEADS, 4 * SAMPLES)  # 40 s: 0.025 Hz resolution
    wander = SignalAugmentation(baseline_wander=0.3)(signals, generator())
    assert float(wander.abs().max()) <= 0.3 and float(wander.abs().max()) > 0.2
    found = dominant_frequencies(wander)
    assert found.min() >= WANDER_HZ[0] - 0.03 and found.max() <= WANDER_HZ[1] + 0.03
    mains = SignalAugmentation(mains_noise=0.02)(signals, generator())
    assert float(mains.abs().max()) <= 0.02
    found = dominant_frequencies(mains)
    assert set(np.round(np.unique(found))) == set(MAINS_HZ)  # both, over 64 windows
    assert (found == found[:, :1]).all()  # one mains frequency per window, in every lead


@pytest.mark.slow
def test_ranks_together_see_what_one_process_sees() -> None:
    settings = SignalAugmentation(
        noise_std=0.05, gain_std=0.2, lead_gain_std=0.1, baseline_wander=0.2, mains_noise=0.01
    )
    signals = windows(batch=8)
    alone = settings(signals, generator())
    world = 2
    for rank in range(world):
        share = settings(signals[rank::world], generator(), Rank(rank=rank, world=world))
        torch.testing.assert_close(share, alone[rank::world])


def test_the_same_generator_state_gives_the_same_augmentation() -> None:
    settings = SignalAugmentation(gain_std=0.2, baseline_wander=0.2, mains_noise=0.01)
    first = settings(windows(), generator(3))
    assert torch.equal(first, settings(windows(), generator(3)))
    assert not torch.equal(first, settings(windows(), generator(4)))


def test_negative_settings_are_refused() -> None:
    for field in ("gain_std", "lead_gain_std", "baseline_wander", "mains_noise"):
        with pytest.raises(ValueError, match="must not be negative"):
            TrainConfig(**{field: -0.1})
