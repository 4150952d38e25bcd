"""Decide whether an Alembic revision file can lose or rewrite data.

Two analyses are combined:

* The static one reads the revision's AST (it never imports the file) and follows
  ``upgrade()`` or ``downgrade()``: ``op.*`` and ``batch_op.*`` calls, executed SQL
  (``op.execute``, ``bind.execute``, ``sa.text``...), SQLAlchemy Core and ORM writes,
  helpers defined in the file (with a recursion guard), and dialect branches (a
  union of all branches, or only the ones the target dialect takes). Every SQL
  string it meets is parsed with sqlglot (:mod:`.sql`), never matched with regexes.
* The rendering (:mod:`.render`) executes the module with ``op`` bound to Alembic's
  offline (``as_sql``) mode and classifies the SQL it emits. It never touches a
  database, is skipped for modules that import application code, and fails soft.
  By default (``render="auto"``) it only runs for revisions the static analysis
  could not fully read (any UN101): rendering every file costs ~5x the static
  analysis (see benchmarks/lint_bench.py).

Findings of both are merged, one per code per line. The verdict is ``safe``
without findings, ``unknown`` when UN101 is the only code (nothing could be
determined), else ``destructive``; callers treat ``unknown`` as destructive.
MF101/MF103/MF104 predict a failure on existing data, not a loss: they are
warnings (``Classification.may_fail``) and leave the verdict alone. Apart from the
findings, ``outside_transaction`` lists (TX101) what cannot run inside the run's
transaction (:mod:`.transaction`), which decides how a run is undone.

Documented choices: a file with no ``upgrade()``/``downgrade()`` is safe with no
findings (Alembic refuses to run it, so no data is at stake); DROP VIEW/INDEX/
FUNCTION and DROP CONSTRAINT lose no rows and are safe; anything done to a table
created earlier in the same revision loses nothing that existed before.

Public API::

    classify_file(path, direction="upgrade", dialect=None, *, render="auto")
    classify_source(source, path="<string>", direction="upgrade", dialect=None, *, render="auto")
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
