"""Keras' backend as a process-wide setting (the registry's ``KERAS_BACKEND``): read by Keras at its first import,
so fixed for the process from then on. Imports no Keras."""

from __future__ import annotations

import os
import sys

VARIABLE = "KERAS_BACKEND"
DEFAULT = "tensorflow"


def backend_now() -> str:
    """The backend this process has: the loaded Keras', else the variable's, else Keras' default."""
    keras = sys.modules.get("keras")
    if keras is not None:
        return keras.backend.backend()
    return os.environ.get(VARIABLE) or DEFAULT


def backend_committed() -> bool:
    """Whether the backend can no longer change here (Keras has been imported)."""
    return "keras" in sys.modules
