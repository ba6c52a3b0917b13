"""Support code for tests that need more than fixtures: running as an unprivileged user
(``unprivileged``), the sandbox attack arena (``arena``) and the allow-all executor driver
(``attack_driver``, run as a subprocess)."""
