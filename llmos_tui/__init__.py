"""llmos: an LLM operating system for the terminal."""

__version__ = "0.1.0"
