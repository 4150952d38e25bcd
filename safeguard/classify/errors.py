"""The error the classifier raises for files it cannot read at all."""

from __future__ import annotations

from ..errors import SafeguardError


class ClassifyError(SafeguardError):
    """A revision file is unreadable, is not valid Python, or has a malformed
    ``safeguard`` acknowledgement. The message names the file and, where there
    is one, the line (``path:line: ...``)."""

    exit_code = 2
