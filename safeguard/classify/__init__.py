"""Decide whether an Alembic revision file can lose or rewrite data.

The analysis is static: it reads the revision's AST (it never imports or executes
the file) and follows
  ``upgrade()`` or ``downgrade()``: ``op.*`` and ``batch_op.*`` calls, executed SQL
  (``op.execute``, ``bind.execute``, ``sa.text``...), SQLAlchemy Core and ORM writes,
  helpers defined in the file (with a recursion guard), and dialect branches (a
  union of all branches, or only the ones the target dialect takes). Every SQL
  string it meets is parsed with sqlglot (:mod:`.sql`), never matched with regexes.

(An offline rendering through Alembic's ``as_sql`` mode, which executed the revision
module, was removed: on the labelled corpus it changed no verdict, finding code,
snapshot decision or ``--strict`` outcome in 294 classifications, 15 of them with
UN101, while costing 4.4x the static analysis when run on every file.)

Findings are merged, one per code per line. The verdict is ``safe``
without findings, ``unknown`` when UN101 is the only code (nothing could be
determined), else ``destructive``; callers treat ``unknown`` as destructive.
MF101/MF103/MF104/MF105 predict a failure on existing data, not a loss: they are
warnings (``Classification.may_fail``) and leave the verdict alone. Apart from the
findings, ``outside_transaction`` lists (TX101) what cannot run inside the run's
transaction (:mod:`.transaction`), which decides how a run is undone.

Documented choices: a file with no ``upgrade()``/``downgrade()`` is safe with no
findings (Alembic refuses to run it, so no data is at stake); DROP VIEW/INDEX/
FUNCTION and DROP CONSTRAINT lose no rows and are safe (DROP TYPE/DOMAIN/EXTENSION
... CASCADE takes the columns of that type: DS103); anything done to a table
created earlier in the same revision loses nothing that existed before.

Common Alembic plugins (alembic-postgresql-enum, alembic_utils, SQLAlchemy-Searchable,
GeoAlchemy2's helpers) are modelled (:mod:`.plugins`); a project can declare what its
own helpers do (:mod:`.declared`), which keeps the finding and leaves it out of the
verdict.

Public API::

    classify_file(path, direction="upgrade", dialect=None, declarations=())
    classify_source(source, path="<string>", direction="upgrade", dialect=None, declarations=())
    Finding, Acknowledgement, Classification, ClassifyError, Declaration
"""

from .classifier import classify_file, classify_source
from .codes import MEANINGS as CODE_MEANINGS
from .declared import Declaration
from .errors import ClassifyError
from .result import Acknowledgement, Classification, Finding

__all__ = [
    "CODE_MEANINGS",
    "Acknowledgement",
    "Classification",
    "ClassifyError",
    "Declaration",
    "Finding",
    "classify_file",
    "classify_source",
]
