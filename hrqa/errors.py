"""The hrqa exceptions: each message names what went wrong and the command that fixes it."""


def printable(text: object) -> str:
    """``text`` safe to print on a terminal: control, format and line-break characters (an escape code
    or a newline in a file name) shown as Python escapes (``\\x1b``, ``\\n``, ``\\u202e``)."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


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


class IndexWriteError(HrqaError, OSError):
    """The index folder cannot be written (read-only, full, a file-size limit); the live index is untouched."""
