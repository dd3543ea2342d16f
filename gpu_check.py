#!/usr/bin/env python
"""GPU check: python gpu_check.py [--device cuda:N] [...]: the whole product on a CUDA GPU in a few minutes.

Trains (killed and resumed), cross-validates, classifies on the GPU and on the CPU, compares them and scores, then
measures training and inference speed and peak GPU memory (ecg12/gpu_check.py). Exits 0 where there is no CUDA.
"""

from __future__ import annotations

import sys

from ecg12.gpu_check import main

if __name__ == "__main__":
    sys.exit(main())
