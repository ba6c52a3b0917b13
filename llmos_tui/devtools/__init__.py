"""Developer tools that ship with llmos (standard library only; never imports pytest).

`scripted_server` is a loopback HTTP server speaking the Anthropic Messages API from a script of
turns; tests and `llmos demo` point the real Claude Code CLI and the `anthropic` SDK at it.
"""
