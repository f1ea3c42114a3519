"""An engine served while its index may still be opened, built or rebuilt: what ``hrqa serve`` runs.

``Lifecycle.start()`` opens the index in a background thread, so a server is up at once: a missing,
unreadable or other-model index is built first (nothing can be answered meanwhile), a stale one (the
corpus or chunking changed) is served while it is rebuilt. ``rebuild`` swaps in a new snapshot while
questions are answered from the old one. ``status`` says what is happening, with the build's progress;
a failed open or rebuild is reported there and leaves the served index as it was.
"""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass

from hrqa.embedding import Embedder, settings_embedder
from hrqa.engine import Engine
from hrqa.errors import HrqaError, IndexBusyError, IndexCorruptError, IndexMissingError, IndexStaleError
from hrqa.settings import Settings
from hrqa.store import BuildProgress, BuildReport

log = logging.getLogger(__name__)


class IndexNotReadyError(HrqaError):
    """A question or a rebuild arrived while the first index is still being built or opened."""


class Activity(enum.StrEnum):
    OPENING = "opening"  # loading the model, opening the index
    BUILDING = "building"  # no index to serve yet: building the first one
    REBUILDING = "rebuilding"  # serving one index while the next one is built


@dataclass(frozen=True)
class LifecycleStatus:
    """What a served index is doing: ``ready`` once an engine answers, ``activity`` while building."""

    ready: bool
    activity: Activity | None
    #: the build's latest (stage, done, total), while one runs
    progress: tuple[str, int, int] | None
    index_id: str | None
    #: why the last open or rebuild failed (None after a success)
    error: str | None

    @property
    def building(self) -> bool:
        return self.activity is not None

    def progress_text(self) -> str:
        if self.progress is None:
            if self.activity is Activity.OPENING:
                return "checking the corpus for changes" if self.ready else "loading the model"
            return "starting"
        stage, done, total = self.progress
        return f"{stage} {done}/{total}"


class Lifecycle:
    """The engine of ``settings`` once it can answer, and the state of any open or build.

    ``progress``: told every build's (stage, done, total), e.g. ``hrqa.progress.ConsoleProgress``.
    Rebuilds run one at a time (``Engine.rebuild``): a second one is refused with IndexBusyError.
    """

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, *, progress: BuildProgress | None = None
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self._listener = progress
        self._state = threading.Lock()  # the fields below change together under it
        self._served: Engine | None = None
        self._unserved: Engine | None = None  # made to build a first index (the open found none)
        self._opening: Activity | None = None
        self._rebuilds = 0
        self._progress: tuple[str, int, int] | None = None
        self._error: str | None = None
        self._making = threading.Lock()  # loading the embedder (slow) happens once

    # -- what the web layer reads

    @property
    def engine(self) -> Engine | None:
        """The engine answering questions, or None while none can."""
        return self._served

    @engine.setter
    def engine(self, engine: Engine | None) -> None:
        """Serve an engine opened elsewhere (a test, a caller that built its own)."""
        with self._state:
            self._served = engine

    def status(self) -> LifecycleStatus:
        with self._state:
            engine = self._served
            if self._rebuilds:
                activity = Activity.REBUILDING if engine is not None else Activity.BUILDING
            else:
                activity = self._opening
            return LifecycleStatus(
                ready=engine is not None,
                activity=activity,
                progress=self._progress if activity is not None else None,
                index_id=engine.index.id if engine is not None else None,
                error=self._error,
            )

    def require_engine(self) -> Engine:
        """The engine to answer with, or IndexNotReadyError saying why there is none (yet)."""
        engine = self._served
        if engine is not None:
            return engine
        status = self.status()
        if status.building:
            raise IndexNotReadyError(f"the index is being built ({status.progress_text()}); ask again in a moment")
        raise IndexNotReadyError(
            f"the index is not available: {status.error or 'it has not been opened'}; "
            "use Rebuild embeddings (or run: hrqa index) to build it"
        )

    # -- opening and building

    def start(self) -> threading.Thread:
        """``open`` in a background thread (returned, to join)."""
        thread = threading.Thread(target=self.open, name="hrqa-open", daemon=True)
        thread.start()
        return thread

    def open(self) -> None:
        """Open the index; build it when missing, unreadable or made with another model (its vectors
        cannot answer); serve it and then rebuild it when the corpus or chunking changed. Never raises:
        a failure is the status's ``error`` (and in the log)."""
        with self._state:
            self._opening, self._progress, self._error = Activity.OPENING, None, None
        try:
            log.info("opening the index in %s (corpus %s)", self.settings.index_dir, self.settings.corpus_dir)
            embedder = self._load_embedder()
            try:
                engine = Engine.open(self.settings, embedder=embedder, build="never")
            except (IndexMissingError, IndexCorruptError, IndexStaleError) as reason:
                log.info("building the index (%s)", reason)
                with self._state:
                    self._opening = Activity.BUILDING
                engine = self._new_engine()
                engine.rebuild(self._reporter(None))
            self._serve(engine)  # answering from here on; still "opening" until checked against the corpus
            with self._state:
                self._opening, self._progress = Activity.OPENING, None
            stale = engine.status().stale
            if stale:
                log.info("%s; rebuilding (questions are answered from the current index meanwhile)", stale)
                self.rebuild()
            log.info("index ready: %s", engine.status().line())
        except HrqaError as error:
            self._fail(str(error))
            log.error("%s", error)
        except Exception as error:  # the page must say why; the log gets the traceback
            self._fail(f"the index could not be opened ({type(error).__name__}: {error})")
            log.exception("opening the index failed")
        finally:
            with self._state:
                self._opening = None
                if not self._rebuilds:
                    self._progress = None

    def rebuild(self, progress: BuildProgress | None = None) -> BuildReport:
        """Incremental rebuild while the served index keeps answering; the new snapshot is served once
        complete. With no index served (the open failed), builds one. Raises IndexNotReadyError while
        the first open runs, IndexBusyError while another rebuild runs, and whatever failed the build
        (also kept as the status's ``error``; the served index stays)."""
        with self._state:
            engine = self._served
            if engine is None and self._opening is not None:
                activity = LifecycleStatus(False, self._opening, self._progress, None, None)
                raise IndexNotReadyError(
                    f"the index is being built ({activity.progress_text()}); it will be up to date when that finishes"
                )
            self._rebuilds += 1
            if self._rebuilds == 1:
                self._progress = None
        try:
            engine = engine or self._new_engine()
            report = engine.rebuild(self._reporter(progress))
            self._serve(engine)
            log.info("%s", report.summary())
            return report
        except IndexBusyError:
            raise  # refused, not failed: the running rebuild decides what is served
        except HrqaError as error:
            self._fail(str(error))
            raise
        except Exception as error:
            self._fail(f"the rebuild failed ({type(error).__name__}: {error})")
            raise
        finally:
            with self._state:
                self._rebuilds -= 1
                if not self._rebuilds and self._opening is None:
                    self._progress = None

    # -- inside

    def _load_embedder(self) -> Embedder:
        with self._making:
            if self._embedder is None:
                self._embedder = settings_embedder(self.settings)
            return self._embedder

    def _new_engine(self) -> Engine:
        """The engine that builds a first index: one, whoever asks (its rebuilds then take turns)."""
        embedder = self._load_embedder()
        with self._making:
            if self._unserved is None:
                self._unserved = Engine(self.settings, embedder)
            return self._unserved

    def _serve(self, engine: Engine) -> None:
        with self._state:
            self._served, self._error = engine, None

    def _fail(self, message: str) -> None:
        with self._state:
            self._error = message

    def _reporter(self, extra: BuildProgress | None) -> BuildProgress:
        """A build's progress: kept for ``status``, told to the listener (the console) and ``extra``."""

        def report(stage: str, done: int, total: int) -> None:
            with self._state:
                self._progress = (stage, done, total)
            for listener in (self._listener, extra):
                if listener is not None:
                    listener(stage, done, total)

        return report
