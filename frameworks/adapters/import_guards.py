"""Import-order guards for framework combinations that crash a process.

TensorFlow imported before triton (which torch 2.14 brings, and which torchvision, ``torch._dynamo`` and
``torch.compile`` load) kills the process with a segmentation fault; importing triton first avoids it.
``import keras`` imports TensorFlow whenever it is installed, whatever the Keras backend. Caffe's own
guard (loading its extension with ``RTLD_DEEPBIND``) lives in the installed pycaffe, see
``scripts/install_caffe.sh``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys


def installed(module: str) -> bool:
    """Whether a top-level module can be imported, without importing it."""
    return importlib.util.find_spec(module) is not None


def prepare_for_tensorflow() -> None:
    """Call before anything may import TensorFlow: loads torch and triton first when installed."""
    if "tensorflow" in sys.modules:
        return
    for module in ("torch", "triton"):
        if installed(module):
            importlib.import_module(module)


def triton_crash_risk() -> str | None:
    """Why loading triton now would crash the process (TensorFlow came first), or None if it is safe."""
    if "tensorflow" in sys.modules and "triton" not in sys.modules and installed("triton"):
        return ("TensorFlow was imported before triton in this process, and loading triton now (torchvision, "
                "torch.compile) would crash it; call frameworks.adapters.import_guards.prepare_for_tensorflow() before "
                "importing TensorFlow or Keras")
    return None
