"""Fail when TORCH_VARIANT names a torch build (e.g. +cpu) and the installed torch or torchvision is another one.

CI sets TORCH_VARIANT=+cpu with PyTorch's CPU wheel index as an extra index; if that index were unreachable or
lacked a release, pip would quietly fall back to PyPI's CUDA build (several GB). This makes that an error. With
TORCH_VARIANT unset it only reports what is installed. Reads package metadata; imports no framework.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata

PACKAGES = ("torch", "torchvision")


def main() -> int:
    variant = os.environ.get("TORCH_VARIANT", "")
    wrong = []
    for name in PACKAGES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        suffix = "" if not variant else (" (the wanted build)" if version.endswith(variant) else " (WRONG BUILD)")
        print(f"check-torch-variant: {name} {version}{suffix}")
        if variant and not version.endswith(variant):
            wrong.append(f"{name} {version}")
    if wrong:
        print(f"check-torch-variant: error: TORCH_VARIANT={variant} but {', '.join(wrong)} is installed: is "
              "PIP_EXTRA_INDEX_URL set to the index that has those builds, and does it have this release?",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
