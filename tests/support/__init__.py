"""Support code the tests share (test modules never import each other): the scripted model server
fixtures (``llm_fixtures``), running ``llmos --headless run`` (``headless``), driving the TUI
(``tui``) and the workspace it browses (``tui_workspace``), the sandbox backend
(``sandbox_backend``), the import probe (``import_probe``), a rename racer (``fs_race``), running
as an unprivileged user (``unprivileged``), the sandbox attack arena (``arena``) and the allow-all
executor driver (``attack_driver``, run as a subprocess)."""
