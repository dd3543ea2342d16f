"""Importing a script of bench/ (not a package) in a test, as the module of its file name."""

from __future__ import annotations

import importlib.util
import sys
import types

from trained_model import REPOSITORY


def load_bench_script(name: str) -> types.ModuleType:
    """bench/NAME.py as module NAME (registered in sys.modules, as dataclasses and pickling need), with bench/ on
    sys.path as when it is run (its imports of bench/'s other modules)."""
    if str(REPOSITORY / "bench") not in sys.path:
        sys.path.append(str(REPOSITORY / "bench"))
    spec = importlib.util.spec_from_file_location(name, REPOSITORY / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module
