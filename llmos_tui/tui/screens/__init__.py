"""Screens of the llmos app (modals and, later, full-screen views)."""
