"""A project's own helpers, declared by the project (the ``lint_known`` setting).

A revision that calls into the application's own code (``from myapp.migrations.helpers
import add_audit_trigger``) is UN101: that code is out of the classifier's sight. A
project that knows what such a call does can say so, once, in its configuration:

- ``safe``: it works on the database but loses and rewrites no existing data;
- ``not-database``: it talks to something other than the database (a cache, a file).

The finding about the call is kept, with the declaration as its ``resolution``, and
no longer counts towards the verdict. A declaration covers calls into the named
function or object, and into what those calls return; never what the revision
itself does around them: its ``op`` calls, the SQL it executes (even SQL a declared
helper returned), callables it hands to the helper. Those are judged as always.

Names are matched as the revision imports them, by absolute dotted path
(``myapp.migrations.helpers:add_audit_trigger`` covers
``myapp.migrations.helpers.add_audit_trigger``; ``redash.redis_connection`` covers
``redash.redis_connection.delete``). Checking that a declared name imports is the
caller's business (safeguard/declarations.py): the classifier never imports a
project's code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Declaration:
    """One declared name and its verdict."""

    #: As written: ``package.module:attribute`` or ``package.module.attribute``.
    target: str
    #: ``safe`` or ``not-database``.
    verdict: str
    #: Where it was declared, for messages: "alembic.ini [safeguard] lint_known".
    source: str

    @property
    def dotted(self) -> str:
        """The name as a revision's imports spell it."""
        return self.target.replace(":", ".")

    @property
    def resolution(self) -> str:
        """What a finding it covers says, e.g. "safe: declared in alembic.ini ...\""""
        return f"{self.verdict}: declared in {self.source}"

    def covers(self, dotted: str) -> bool:
        """True for the declared name itself, an attribute reached through it, or the
        result of calling it (``name()``, as the analysis spells a call's result)."""
        name = self.dotted
        return dotted == name or dotted.startswith((name + ".", name + "("))


def find(declarations: Sequence[Declaration], dotted: str) -> Declaration | None:
    """The declaration that covers ``dotted`` (the most specific one), or None."""
    covering = [d for d in declarations if d.covers(dotted)]
    return max(covering, key=lambda d: len(d.dotted)) if covering else None
