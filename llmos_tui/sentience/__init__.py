"""Sentience: internal state (valence, homeostasis, latent modes) that changes behaviour.

Import the pieces from their modules (``runtime.SentienceRuntime`` is the kernel's entry
point); this package keeps its import cheap.
"""
