"""Keras 3 on TensorFlow, JAX or torch: one adapter, one small object per backend."""

from .adapter import KerasAdapter, import_keras

__all__ = ["KerasAdapter", "import_keras"]
