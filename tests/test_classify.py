"""The classifier against the labelled corpus, and its public contract.

The corpus (shared/corpus beside the repository) holds 49 hand-labelled Alembic
revisions. Every destructive one must be found (recall 100%), at least 95% of the
safe ones must be called safe, and every labelled code must be reported.
Codes beyond the labelled ones are reported as warnings, not failures.
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from safeguard.classify import (
    Acknowledgement,
    Classification,
    ClassifyError,
    Finding,
    classify_file,
    classify_source,
)
from safeguard.errors import SafeguardError

CORPUS = Path(os.environ.get("SAFEGUARD_TEST_CORPUS")
              or Path(__file__).resolve().parents[2] / "shared" / "corpus")
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "classify"

needs_corpus = pytest.mark.skipif(
    not (CORPUS / "labels.tsv").is_file(),
    reason=f"the labelled corpus is not checked out at {CORPUS}",
)


@dataclass(frozen=True)
class Label:
    file: str
    revision: str
    verdict: str
    codes: frozenset[str]
    note: str

    @property
    def path(self) -> Path:
        return CORPUS / "revisions" / self.file


def _labels() -> list[Label]:
    if not (CORPUS / "labels.tsv").is_file():
        return []
    with open(CORPUS / "labels.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [_redefined(Label(r["file"], r["revision"], r["verdict"],
                             frozenset() if r["codes"] == "-" else frozenset(r["codes"].split(",")),
                             r["note"]))
            for r in rows]


MAY_FAIL = frozenset({"MF101", "MF103", "MF104"})


def _redefined(label: Label) -> Label:
    """The label under issue 13's definition: `destructive` means the revision can
    lose or rewrite existing data. The corpus labels a revision whose only codes are
    MF101/MF103/MF104 destructive (it may fail on existing data); such a revision is
    now `safe`, its codes still reported, as warnings (010, 030, 031, 033)."""
    if label.verdict == "destructive" and label.codes and label.codes <= MAY_FAIL:
        return Label(label.file, label.revision, "safe", label.codes, label.note)
    return label


LABELS = _labels()


# --- the corpus ---------------------------------------------------------------------------------


@needs_corpus
@pytest.mark.parametrize("label", LABELS, ids=lambda label: label.file)
def test_corpus_revision_matches_its_label(label: Label) -> None:
    result = classify_file(label.path)
    assert result.revision == label.revision
    if label.verdict == "destructive":
        assert result.is_destructive, f"{label.file} ({label.note}) was called {result.verdict}"
        missing = label.codes - result.codes
        assert not missing, f"{label.file}: labelled codes {sorted(missing)} not reported: {result.findings}"
        extra = result.codes - label.codes
        if extra:
            warnings.warn(f"{label.file}: codes beyond the label: {sorted(extra)}", stacklevel=1)
    else:
        assert result.verdict == "safe", f"{label.file} ({label.note}): {result.findings}"
        assert result.codes == label.codes, f"{label.file}: {result.findings}"
        assert result.may_fail == bool(label.codes)


@needs_corpus
def test_corpus_recall_and_safe_precision() -> None:
    destructive = [label for label in LABELS if label.verdict == "destructive"]
    safe = [label for label in LABELS if label.verdict == "safe"]
    # 31 and 18 as labelled; 4 MF-only revisions are safe under issue 13 (see _redefined).
    assert len(destructive) == 27 and len(safe) == 22, "the corpus changed; update this test"

    missed = [lab.file for lab in destructive if not classify_file(lab.path).is_destructive]
    called_safe = [lab.file for lab in safe if classify_file(lab.path).verdict == "safe"]
    wrong_codes = [lab.file for lab in destructive if not lab.codes <= classify_file(lab.path).codes]

    assert missed == [], f"destructive revisions not found: {missed}"
    assert len(called_safe) / len(safe) >= 0.95, f"safe revisions called destructive: " \
        f"{sorted(set(lab.file for lab in safe) - set(called_safe))}"
    assert wrong_codes == []


@needs_corpus
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_corpus_with_a_target_dialect(dialect: str) -> None:
    """With a dialect, only 012 changes: its DROP SCHEMA sits in a PostgreSQL-only branch."""
    for label in LABELS:
        result = classify_file(label.path, dialect=dialect)
        if label.file.startswith("012_") and dialect == "sqlite":
            assert result.verdict == "safe"
            continue
        assert result.is_destructive == (label.verdict == "destructive"), label.file
        assert label.codes <= result.codes, label.file


@needs_corpus
def test_corpus_downgrades_classify_without_errors() -> None:
    """Downgrades are not labelled, but every one must classify, and the
    create-table revisions' downgrades drop their tables."""
    for label in LABELS:
        result = classify_file(label.path, direction="downgrade")
        assert result.direction == "downgrade"
        if "create_table" in label.note and label.file < "008":
            assert "DS102" in result.codes, label.file


@needs_corpus
def test_corpus_findings_name_tables_and_lines() -> None:
    result = classify_file(CORPUS / "revisions" / "019_drop_tenant_fax.py")
    assert result.findings == (Finding("DS103", "drops column tenants.fax", 21),)
    source_line = (CORPUS / "revisions" / "019_drop_tenant_fax.py").read_text().splitlines()[20]
    assert "op.drop_column" in source_line


# --- the public contract ----------------------------------------------------------------------


def test_to_dict_has_the_lint_json_shape() -> None:
    source = 'revision = "abc123"\ndown_revision = None\nfrom alembic import op\n\n' \
             'def upgrade():\n    op.drop_table("tenants")\n'
    result = classify_source(source, path="versions/abc123_x.py")
    assert result.to_dict() == {
        "path": "versions/abc123_x.py",
        "revision": "abc123",
        "verdict": "destructive",
        "findings": [{"code": "DS102", "message": "drops table tenants", "line": 6,
                      "kind": "destructive"}],
        "may_fail": False,
        "outside_transaction": [],
        "acknowledged": None,
    }


@pytest.mark.parametrize("body, code", [
    ('op.create_index("ix_email", "tenants", ["email"], unique=True)', "MF101"),
    ('op.add_column("tenants", sa.Column("phone", sa.String(), nullable=False))', "MF103"),
    ('op.alter_column("tenants", "email", nullable=False)', "MF104"),
])
def test_a_revision_that_may_only_fail_is_safe_with_a_warning(body: str, code: str) -> None:
    """Issue 13: MF101/MF103/MF104 predict a failure on existing data, not a loss."""
    source = ('revision = "abc123"\ndown_revision = None\nimport sqlalchemy as sa\n'
              f'from alembic import op\n\ndef upgrade():\n    {body}\n')
    result = classify_source(source)
    assert result.verdict == "safe" and not result.is_destructive
    assert result.may_fail and [f.kind for f in result.findings] == ["may-fail"]
    assert result.codes == {code}


TRANSACTION_BREAKS = '''"""Docstring mentioning VACUUM does not count."""
revision = "abc123"
down_revision = None
from alembic import op

def upgrade():
    with op.get_context().autocommit_block():
        op.execute("CREATE INDEX CONCURRENTLY ix_a ON t (a)")
    op.create_index("ix_b", "t", ["b"], postgresql_concurrently=True)
    op.execute("ALTER TYPE mood ADD VALUE 'meh'")
'''


def test_what_cannot_run_in_the_runs_transaction_is_noted() -> None:
    result = classify_source(TRANSACTION_BREAKS)
    assert result.verdict == "safe"
    assert [(f.code, f.line) for f in result.outside_transaction] == [
        ("TX101", 7), ("TX101", 8), ("TX101", 9), ("TX101", 10)]
    plain = classify_source('revision = "a"\ndown_revision = None\nfrom alembic import op\n\n'
                            'def upgrade():\n    op.create_index("ix", "t", ["a"])\n')
    assert plain.outside_transaction == ()
    json.dumps(result.to_dict())  # serialisable as is


def test_classification_is_frozen_and_typed() -> None:
    result = classify_source("def upgrade():\n    pass\n")
    assert isinstance(result, Classification)
    assert result.verdict == "safe" and not result.is_destructive and not result.acknowledged
    with pytest.raises(AttributeError):
        result.verdict = "destructive"  # type: ignore[misc]


def test_unknown_counts_as_destructive() -> None:
    result = classify_source("from alembic import op\n\ndef upgrade():\n    op.execute(make_sql())\n")
    assert result.verdict == "unknown"
    assert result.is_destructive
    assert [f.code for f in result.findings] == ["UN101"]


def test_down_revision_tuple_and_annotated_ids() -> None:
    source = 'revision: str = "m1"\ndown_revision: tuple = ("a1", "b1")\n\ndef upgrade():\n    pass\n'
    result = classify_source(source)
    assert result.revision == "m1"
    assert result.down_revision == ("a1", "b1")


def test_classify_file_reads_a_revision_whose_app_imports_are_missing() -> None:
    """Nothing is imported for the static analysis, so a missing application module
    changes nothing."""
    result = classify_file(FIXTURES / "missing_app_module.py")
    assert result.revision == "f1a2b3c4d5e6"
    assert result.codes == {"DS103", "DS105"}


def test_syntax_error_names_the_file_and_line() -> None:
    path = FIXTURES / "syntax_error.py"
    with pytest.raises(ClassifyError) as caught:
        classify_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:9: syntax error")
    assert isinstance(caught.value, SafeguardError)
    assert caught.value.exit_code == 2


def test_syntax_error_in_source_uses_the_given_path() -> None:
    with pytest.raises(ClassifyError, match=r"^versions/x\.py:2: syntax error"):
        classify_source("def upgrade():\n    op.drop_table('x'\n", path="versions/x.py")


def test_unreadable_file_is_a_classify_error(tmp_path: Path) -> None:
    with pytest.raises(ClassifyError, match="cannot read revision file"):
        classify_file(tmp_path / "missing.py")
    binary = tmp_path / "binary.py"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ClassifyError, match=str(binary)):
        classify_file(binary)


def test_acknowledged_fixture() -> None:
    result = classify_file(FIXTURES / "acknowledged.py")
    assert result.verdict == "destructive"
    assert result.acknowledgement == Acknowledgement(True, "staging data is re-imported nightly", 7)
    assert result.to_dict()["acknowledged"] == {
        "destructive": True, "reason": "staging data is re-imported nightly", "line": 7,
    }


def test_probable_rename_fixture() -> None:
    result = classify_file(FIXTURES / "autogenerate_rename.py")
    assert result.codes == {"DS103", "BC102"}
    (rename,) = [f for f in result.findings if f.code == "BC102"]
    assert rename.message == (
        "probable rename of tenants.phone to tenants.mobile: autogenerate writes drop+add, "
        "which loses the column's data; write "
        "op.alter_column('tenants', 'phone', new_column_name='mobile')"
    )
    assert rename.line == 18  # the drop_column line


def test_bad_arguments_are_programming_errors() -> None:
    with pytest.raises(ValueError):
        classify_source("def upgrade():\n    pass\n", direction="sideways")
