"""Widgets of the llmos app."""
