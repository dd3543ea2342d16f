"""Training-time signal augmentation, applied on the training device to a batch of windows in mV.

The paper's Gaussian noise, and four perturbations that tell databases apart (issue 16: amplifier gain, electrode
impedance and the mains), each off unless its setting is positive:

- ``gain_std``: the whole window scaled by exp(N(0, gain_std)) (a device's or a patient's amplitude);
- ``lead_gain_std``: each lead scaled by exp(N(0, lead_gain_std)) on top (electrode placement, lead gains);
- ``baseline_wander``: each lead gets a sinusoid of 0.05-0.5 Hz (respiration, movement) whose amplitude is drawn
  up to this many mV, with a random phase;
- ``mains_noise``: a 50 or 60 Hz sinusoid (chosen per window) of up to this many mV in each lead.

Every random number comes from the step's generator, which the training loop reseeds with (seed, epoch): an
epoch's augmentation is the same on any device and with any number of loader workers. Under torchrun each rank
draws the values of the whole global batch and keeps its share, so that the processes together see what one
process would. The Gaussian noise is drawn first, exactly as before the other four existed, so that a recipe
without them trains bit for bit as it did.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ecg12.config import TARGET_FREQUENCY, TrainConfig
from ecg12.distributed import SINGLE_PROCESS, Rank

WANDER_HZ = (0.05, 0.5)  # respiration (0.1-0.5 Hz) and slow drift
MAINS_HZ = (50.0, 60.0)


@dataclass(frozen=True)
class SignalAugmentation:
    """The augmentation settings of a recipe; calling it perturbs a batch (see the module docstring)."""

    noise_std: float = 0.0
    gain_std: float = 0.0
    lead_gain_std: float = 0.0
    baseline_wander: float = 0.0
    mains_noise: float = 0.0

    @classmethod
    def of(cls, config: TrainConfig) -> SignalAugmentation:
        return cls(config.noise_std, config.gain_std, config.lead_gain_std, config.baseline_wander, config.mains_noise)

    def __call__(self, signals: torch.Tensor, generator: torch.Generator, rank: Rank = SINGLE_PROCESS) -> torch.Tensor:
        """(B, leads, T) mV windows -> perturbed windows; ``generator`` lives on the windows' device."""
        batch, leads, samples = signals.shape

        def draw(shape: tuple[int, ...], uniform: bool = False) -> torch.Tensor:
            """Normal (or uniform [0, 1)) values of shape (B, *shape): this rank's share of the global batch's."""
            full = (batch * rank.world, *shape)
            sample = torch.rand if uniform else torch.randn
            return sample(full, generator=generator, device=signals.device)[rank.rank :: rank.world]

        if self.noise_std > 0:
            signals = signals + self.noise_std * draw((leads, samples))
        if self.gain_std > 0 or self.lead_gain_std > 0:
            log_gain = self.gain_std * draw((1, 1)) + self.lead_gain_std * draw((leads, 1))
            signals = signals * torch.exp(log_gain)
        seconds = torch.arange(samples, device=signals.device, dtype=signals.dtype) / TARGET_FREQUENCY
        if self.baseline_wander > 0:
            low, high = WANDER_HZ
            frequency = low + (high - low) * draw((leads, 1), uniform=True)
            signals = signals + self._sinusoids(draw, self.baseline_wander, frequency, seconds, leads)
        if self.mains_noise > 0:
            frequency = torch.where(draw((1, 1), uniform=True) < 0.5, MAINS_HZ[0], MAINS_HZ[1])
            signals = signals + self._sinusoids(draw, self.mains_noise, frequency, seconds, leads)
        return signals

    @staticmethod
    def _sinusoids(
        draw: Callable[..., torch.Tensor], largest: float, frequency: torch.Tensor, seconds: torch.Tensor, leads: int
    ) -> torch.Tensor:
        """(B, leads, T) sinusoids of ``frequency`` (Hz, broadcast to (B, leads, 1)), amplitude uniform up to
        ``largest`` mV and phase uniform, both per lead."""
        amplitude = largest * draw((leads, 1), uniform=True)
        phase = 2 * math.pi * draw((leads, 1), uniform=True)
        return amplitude * torch.sin(2 * math.pi * frequency * seconds + phase)
