#!/usr/bin/env python
"""The paper's Table 1: python table1.py DATA OUT [--architectures msse resnext resnest] [--folds 5] [...].

One cross-validation per architecture (ecg12/table1.py), the table beside the paper's numbers.
"""

from __future__ import annotations

import sys

from ecg12.table1 import main

if __name__ == "__main__":
    sys.exit(main())
