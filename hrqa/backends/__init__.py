"""Search backends: the protocol the question path reads an index through, and its implementations
(``local``: a snapshot folder in this process; ``qdrant``: a Qdrant node or cluster)."""

from hrqa.backends.base import (
    BackendKind,
    BuildTarget,
    Candidates,
    Scope,
    SearchBackend,
    build_index,
    open_backend,
    open_index,
)

__all__ = [
    "BackendKind",
    "BuildTarget",
    "Candidates",
    "Scope",
    "SearchBackend",
    "build_index",
    "open_backend",
    "open_index",
]
