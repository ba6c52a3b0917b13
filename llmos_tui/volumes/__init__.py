"""Volumes: user / team / system scopes of artifacts (``volume``), who may read and write them
(``acl``), and promotion up the hierarchy with provenance (``promotion``).
Import the submodules; this package imports nothing itself."""
