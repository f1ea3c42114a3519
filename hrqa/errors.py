"""The hrqa exceptions: each message names what went wrong and the command that fixes it."""


class HrqaError(Exception):
    """Base of every error hrqa reports to a person (CLI: one line, UI: a chat message)."""


class SettingsError(HrqaError, ValueError):
    """A setting has a value hrqa cannot use."""


class CorpusError(HrqaError):
    """The corpus folder cannot be read (missing, empty, nothing indexable)."""


class ModelError(HrqaError):
    """The embedding model cannot be loaded from local files."""


class IndexMissingError(HrqaError):
    """No index has been built in the index folder."""


class IndexStaleError(HrqaError):
    """The index no longer matches the corpus, the model or the chunking settings."""


class IndexCorruptError(HrqaError):
    """An index file fails its checksum or cannot be parsed."""


class IndexBusyError(HrqaError):
    """Another rebuild holds the index lock."""


class QuestionError(HrqaError, ValueError):
    """A question hrqa will not answer as given (empty, too long)."""


class DocumentNotFoundError(HrqaError, KeyError):
    """A document id that is not in the index (or a path that tries to leave the corpus)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "document not found"
