"""Volumes: user / team / system scopes of artifacts (``volume``), who may read and write them
(``acl``), promotion up the hierarchy with provenance (``promotion``), and what accepting an
``artifact.*`` proposal does (``appliers``).
Import the submodules; this package imports nothing itself."""
