"""Decide whether an Alembic revision file can lose or rewrite data.

Two analyses are combined. The static one reads the revision's AST (it never
imports the file) and follows ``upgrade()`` or ``downgrade()``: ``op.*`` and
``batch_op.*`` calls, executed SQL, SQLAlchemy Core and ORM writes, local helpers
and dialect branches. Every SQL string it meets is parsed with sqlglot. The
optional second one renders the revision through Alembic's offline (``as_sql``)
mode and classifies the emitted SQL the same way; it never touches a database.

Public API::

    classify_file(path, direction="upgrade", dialect=None) -> Classification
    classify_source(source, path="<string>", direction="upgrade", dialect=None)
    Finding, Acknowledgement, Classification, ClassifyError
"""

from safeguard.classify.classifier import RENDER_MODES, classify_file, classify_source
from safeguard.classify.codes import MEANINGS as CODE_MEANINGS
from safeguard.classify.errors import ClassifyError
from safeguard.classify.result import Acknowledgement, Classification, Finding

__all__ = [
    "CODE_MEANINGS",
    "RENDER_MODES",
    "Acknowledgement",
    "Classification",
    "ClassifyError",
    "Finding",
    "classify_file",
    "classify_source",
]
