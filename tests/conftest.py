"""Shared test set-up: fast compiles, CPU only, TensorFlow kept off any GPU."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import jax  # noqa: E402

# Tests check behaviour, not speed: most XLA optimisations only cost compile time here.
jax.config.update("jax_disable_most_optimizations", True)
jax.config.update("jax_platforms", "cpu")
