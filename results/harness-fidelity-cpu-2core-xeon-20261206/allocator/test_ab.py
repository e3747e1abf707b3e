"""The same epoch code as ab_core.py, inside a bare pytest test."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ab_core import run_probe  # noqa: E402


def test_ab():
    run_probe("pytest")
