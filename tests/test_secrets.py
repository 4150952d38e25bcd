"""The database password goes nowhere but to the server.

Every command runs with a URL holding a password, with -v or --json, on its success
path and on its failure paths, and the password is looked for everywhere it could
escape: stdout and stderr, every file under the project and its store (manifests,
journal, lock files, the schedule's job store, a generated revision), and the argv and
environment of every process safeguard starts, read from /proc while pg_dump and
pg_restore run. Their environment may name a passfile (PGPASSFILE); the passfile must
be gone once the command is.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import psycopg
import pytest
from conftest import HEAD
from sqlalchemy.engine import make_url

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

POLL_S = 0.0005


# -- where a secret could be seen -------------------------------------------------------

def spellings(secret: str) -> set[bytes]:
    """The secret as it could appear: raw, escaped the ways URLs escape it, and each
    long run of letters and digits in it, which no escaping (a conninfo's, a
    passfile's) changes."""
    rendered = make_url("postgresql://u:x@h/d").set(password=secret).render_as_string(
        hide_password=False)
    forms = {secret, quote(secret, safe=""), quote_plus(secret),
             rendered.split("u:", 1)[1].rsplit("@h", 1)[0]}
    forms |= {run for run in re.findall(r"[A-Za-z0-9]{8,}", secret)}
    return {form.encode() for form in forms}


@dataclass(frozen=True)
class Child:
    """A process safeguard started, as /proc showed it."""

    pid: int
    argv: tuple[bytes, ...]
    environ: tuple[bytes, ...]

    @property
    def name(self) -> str:
        return os.path.basename(self.argv[0].decode(errors="replace")) if self.argv else "?"

    def env(self, key: str) -> str | None:
        prefix = key.encode() + b"="
        return next((e[len(prefix):].decode() for e in self.environ if e.startswith(prefix)), None)


class ChildWatch:
    """Reads /proc/<pid>/cmdline and /proc/<pid>/environ of every descendant of ``root``
    while the body runs, polling fast enough to see a pg_dump of a small database.

    A child that has been forked but has not exec'd yet still shows its parent's argv
    and environment; it is told apart by having the parent's very argv and skipped.
    Its argv is read before its environment, so a child caught after its exec is
    judged on its new environment alone.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.children: dict[tuple[int, bytes], Child] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> "ChildWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def named(self, name: str) -> list[Child]:
        return [c for c in self.children.values() if c.name == name]

    def _poll(self) -> None:
        while not self._stop.is_set():
            # Read anew each time: right after a fork-and-exec, the root may not show it yet.
            root_argv = _read(f"/proc/{self.root}/cmdline")
            for pid in _descendants(self.root):
                argv = _read(f"/proc/{pid}/cmdline")
                if not argv or argv == root_argv or (pid, argv) in self.children:
                    continue
                environ = _read(f"/proc/{pid}/environ")
                if environ is not None:
                    self.children[(pid, argv)] = Child(pid, tuple(argv.split(b"\0")),
                                                       tuple(environ.split(b"\0")))
            time.sleep(POLL_S)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None  # the process is already gone


def _descendants(root: int) -> list[int]:
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            kids = (_read(f"/proc/{pid}/task/{task}/children") or b"").split()
            found += [int(k) for k in kids]
            todo += [int(k) for k in kids]
    return found


@dataclass
class Exposure:
    """Everything one test saw, and where each piece came from."""

    seen: list[tuple[str, bytes]] = field(default_factory=list)
    passfiles: set[str] = field(default_factory=set)
    #: The programs caught running, by name: proof there was something to look at.
    programs: set[str] = field(default_factory=set)

    def output(self, where: str, stdout: str, stderr: str) -> None:
        self.seen += [(f"{where}: stdout", stdout.encode()), (f"{where}: stderr", stderr.encode())]

    def files(self, root: Path) -> None:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                self.seen.append((f"file {path.relative_to(root)}", path.read_bytes()))

    def processes(self, where: str, watch: ChildWatch) -> None:
        for child in watch.children.values():
            self.programs.add(child.name)
            self.seen.append((f"{where}: argv of {child.name} (pid {child.pid})", b" ".join(child.argv)))
            self.seen.append((f"{where}: environment of {child.name} (pid {child.pid})",
                              b"\n".join(child.environ)))
            if child.env("PGPASSFILE"):
                self.passfiles.add(child.env("PGPASSFILE"))

    def leaks(self, secret: str) -> list[str]:
        """Where the secret was seen, in any spelling."""
        forms = spellings(secret)
        return [where for where, data in self.seen if any(form in data for form in forms)]


def assert_nowhere(exposure: Exposure, *passwords: str) -> None:
    for password in passwords:
        leaks = exposure.leaks(password)
        assert not leaks, "the password was seen in:\n  " + "\n  ".join(leaks)
    left = [p for p in exposure.passfiles if os.path.exists(p)]
    assert not left, f"passfiles left behind: {left}"


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """A temporary directory of the test's own, where the passfiles are written."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def run_all(project, commands, exposure: Exposure, *, tmp: Path) -> dict[tuple[str, ...], int]:
    """Run each command in-process, watching the children it starts; exit code by command."""
    codes = {}
    for args in commands:
        with ChildWatch(os.getpid()) as watch:
            result = project.cli(*args, expect=None)
        where = "safeguard " + " ".join(args)
        assert "Traceback" not in result.stderr, f"{where}\n{result.stderr}"
        exposure.output(where, result.stdout, result.stderr)
        exposure.processes(where, watch)
        assert not list(tmp.iterdir()), f"{where} left {list(tmp.iterdir())}"
        codes[args] = result.exit_code
    exposure.files(project.root)
    return codes


# -- the user's story, every command, with the real password ---------------------------------

STORY = [
    ("-v", "plan"), ("--json", "plan"),
    ("-v", "rehearse"), ("--json", "rehearse"),  # pg_dump and pg_restore into a copy
    ("-v", "upgrade", "head"),  # a snapshot first: pg_dump
    ("--json", "current"), ("-v", "current"), ("-v", "heads"), ("--json", "history"),
    ("-v", "check"), ("--json", "check"),
    ("-v", "lint"), ("--json", "lint"),
    ("-v", "snapshot", "create", "--label", "story"), ("--json", "snapshot", "create"),
    ("-v", "snapshot", "list"), ("--json", "snapshot", "list"),
    ("-v", "snapshot", "show", "latest"), ("--json", "snapshot", "show", "latest"),
    ("-v", "snapshot", "verify", "latest"),  # a scratch restore: pg_restore
    ("-v", "downgrade", "-1"), ("--json", "stamp", "head"),
    ("--json", "restore", "latest", "--yes"),  # a safety pg_dump, then pg_restore
    ("-v", "recover"), ("--json", "recover"),
    ("-v", "log"), ("--json", "log"),
    ("-v", "snapshot", "prune", "--dry-run"), ("--json", "snapshot", "prune"),
    ("-v", "schedule", "--once", "--every", "1h", "--verify"),
    ("--json", "schedule", "--status"),
    ("-v", "upgrade", "head", "--sql"),
    ("-v", "revision", "-m", "probe", "--autogenerate"),
]


def test_every_command_keeps_the_password_to_itself(pg_seeded, pg_server, private_tmp):
    assert pg_server.password and pg_server.password in pg_seeded.url
    exposure = Exposure()

    codes = run_all(pg_seeded, STORY, exposure, tmp=private_tmp)

    assert {args: code for args, code in codes.items() if code != 0} == {}
    assert_nowhere(exposure, pg_server.password)
    # It was there to be seen: pg_dump and pg_restore ran and were caught running.
    assert {"pg_dump", "pg_restore"} <= exposure.programs, exposure.programs
    assert exposure.passfiles, "no child was given a passfile"


# -- failure paths -----------------------------------------------------------------------------

WRONG_PASSWORD_COMMANDS = [
    ("-v", "plan"), ("--json", "upgrade", "head"), ("-v", "downgrade", "-1"), ("-v", "rehearse"),
    ("-v", "check"), ("--json", "check"), ("-v", "current"), ("--json", "stamp", "head"),
    ("-v", "snapshot", "create"), ("--json", "snapshot", "create"),
    ("-v", "snapshot", "verify", "latest"), ("--json", "restore", "latest", "--yes"),
    ("-v", "recover"), ("-v", "snapshot", "prune"),
    ("-v", "schedule", "--once", "--every", "1h"), ("--json", "schedule", "--once", "--every", "1h"),
    ("-v", "revision", "-m", "probe", "--autogenerate"),
]


def test_a_wrong_password_is_in_no_message(pg_seeded, pg_server, private_tmp):
    pg_seeded.cli("-q", "snapshot", "create")  # something for verify and restore to find
    wrong = f"Wr0ng-{secrets.token_hex(8)}"
    url = make_url(pg_seeded.url).set(password=wrong).render_as_string(hide_password=False)
    exposure = Exposure()

    codes = run_all(pg_seeded.pointed_at(url), WRONG_PASSWORD_COMMANDS, exposure, tmp=private_tmp)

    assert {args: code for args, code in codes.items() if code == 0} == {}
    failed = [text for where, text in exposure.seen if where.endswith("stderr")]
    assert all(b"password authentication failed" in text for text in failed[:3]), failed[:3]
    assert_nowhere(exposure, wrong, pg_server.password)


FAILS_AFTER_THE_SNAPSHOT = 'op.execute("SELECT * FROM no_such_table")'


def test_failed_migration_restore_and_failed_checks_keep_it_too(pg_at_head, pg_server, private_tmp):
    pg_at_head.add_revision("c3d4e5f6a1b2", HEAD, FAILS_AFTER_THE_SNAPSHOT)
    exposure = Exposure()
    codes = run_all(pg_at_head, [("-v", "rehearse"), ("--json", "upgrade", "head", "--rehearse"),
                                 ("-v", "upgrade", "head", "--policy", "always")], exposure,
                    tmp=private_tmp)
    # The rehearsal fails on its copy (twice); the real run fails, its snapshot restored.
    assert list(codes.values()) == [12, 12, 6]

    pg_at_head.configure(sql_check__fails="SELECT 1/0 FROM properties")
    dump = next((pg_at_head.store / "snapshots").glob("*/database.dump"))
    _damage_keeping_the_checksum(dump)
    codes = run_all(pg_at_head, [("-v", "check"), ("--json", "check"),
                                 ("-v", "snapshot", "verify", "latest"),
                                 ("--json", "snapshot", "verify", "latest")],
                    exposure, tmp=private_tmp)

    assert list(codes.values()) == [7, 7, 10, 10]
    assert_nowhere(exposure, pg_server.password)
    assert {"pg_dump", "pg_restore"} <= exposure.programs, exposure.programs
    journal = (pg_at_head.store / "journal.jsonl").read_text()
    assert "no_such_table" in journal  # the error strings were recorded, without it


def _damage_keeping_the_checksum(dump: Path) -> None:
    """Cut the dump short and record the new checksum: only pg_restore can tell."""
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    manifest_path = dump.parent / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    digest = hashlib.sha256(dump.read_bytes()).hexdigest()
    manifest["files"] = {dump.name: digest}
    manifest["sha256"] = digest
    manifest_path.write_text(json.dumps(manifest))


# -- a real process, and a password that needs escaping --------------------------------------

@pytest.fixture
def awkward_role(pg_server) -> tuple[str, str]:
    """A superuser whose password has every character a URL or a passfile escapes."""
    name = f"sg_secret_{secrets.token_hex(3)}"
    password = f"S3cr:t@/{secrets.token_hex(6)}%\\x#?'"
    with pg_server.connect() as conn:
        conn.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
            psycopg.sql.Identifier(name), psycopg.sql.Literal(password)))
    yield name, password
    with pg_server.connect() as conn:
        try:
            conn.execute(psycopg.sql.SQL("DROP ROLE IF EXISTS {}").format(psycopg.sql.Identifier(name)))
        except psycopg.Error:
            pass  # owns something in a database dropped later


@pytest.mark.parametrize("how", ["DATABASE_URL", "--url with ?password="])
def test_pg_dump_and_pg_restore_never_see_it(awkward_role, pg_seeded, pg_server, tmp_path, how):
    role, password = awkward_role
    url = make_url(pg_seeded.url).set(username=role, password=password)
    if how == "DATABASE_URL":
        env = {"DATABASE_URL": url.render_as_string(hide_password=False)}
        url_args: list[str] = []
    else:
        env = {}
        url_args = ["--url", url.set(password=None).update_query_dict({"password": password})
                    .render_as_string(hide_password=False)]
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # Only what this test hands over: not the suite's own URL, which holds a password.
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("SAFEGUARD_TEST_PG_URL", "DATABASE_URL")}
    exposure = Exposure()
    for args in (["-v", "snapshot", "create"], ["--json", "restore", "latest", "--yes"]):
        argv = [sys.executable, "-m", "safeguard", "-c", str(pg_seeded.ini), *url_args, *args]
        proc = subprocess.Popen(argv, cwd=pg_seeded.root, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**base_env, **env, "TMPDIR": str(tmp)})
        with ChildWatch(proc.pid) as watch:
            stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        exposure.output(" ".join(args), stdout, stderr)
        exposure.processes(" ".join(args), watch)
        assert not list(tmp.iterdir())
    exposure.files(pg_seeded.root)

    assert_nowhere(exposure, password)
    assert {"pg_dump", "pg_restore"} <= exposure.programs, exposure.programs
    assert exposure.passfiles and all(p.startswith(str(tmp)) for p in exposure.passfiles)


def test_a_password_in_the_query_string_is_masked_where_the_url_is_shown(pg_seeded, pg_server,
                                                                        private_tmp):
    url = make_url(pg_seeded.url).set(password=None).update_query_dict(
        {"password": pg_server.password}).render_as_string(hide_password=False)
    exposure = Exposure()

    codes = run_all(pg_seeded.pointed_at(url), [("-v", "plan"), ("--json", "current")], exposure,
                    tmp=private_tmp)

    assert list(codes.values()) == [0, 0]
    assert_nowhere(exposure, pg_server.password)
    shown = [text for where, text in exposure.seen if where.endswith(("stdout", "stderr"))]
    assert any(b"postgres:***@" in text for text in shown), shown


# -- the remote store's credentials ------------------------------------------------------------

REMOTE_STORY = [
    ("-v", "upgrade", "head"), ("--json", "snapshot", "create"), ("-v", "snapshot", "create"),
    ("-v", "snapshot", "list"), ("--json", "snapshot", "list"),
    ("-v", "snapshot", "show", "latest"), ("--json", "snapshot", "verify", "latest"),
    ("--json", "restore", "latest", "--yes"), ("-v", "snapshot", "prune"),
    ("-v", "schedule", "--once", "--every", "1h"), ("--json", "schedule", "--status"),
    ("-v", "config"), ("--json", "config"), ("-v", "log"), ("--json", "log"),
]


def test_the_remote_credentials_are_in_no_output_file_or_argv(pg_seeded, pg_server, s3_server,
                                                              s3_credentials, private_tmp):
    from s3_support import ACCESS_KEY, REMOTE_KEY, SECRET_KEY, S3Remote, client

    remote = S3Remote(s3_server, f"sg-secrets-{secrets.token_hex(4)}").create_bucket()
    pg_seeded.configure(**remote.keys)
    exposure = Exposure()

    codes = run_all(pg_seeded, REMOTE_STORY, exposure, tmp=private_tmp)
    # Then the same credentials refused: the failure paths speak of them too.
    pg_seeded.configure(remote=f"s3://no-such-bucket-{secrets.token_hex(4)}/x")
    failed = run_all(pg_seeded, [("-v", "snapshot", "create"), ("--json", "upgrade", "head")],
                     exposure, tmp=private_tmp)

    assert {args: code for args, code in codes.items() if code != 0} == {}
    assert set(failed.values()) <= {0, 13}, failed
    assert any(k.endswith("manifest.json") for k in remote.objects())  # it was uploaded
    # The output, the journal, the manifests, and every child's argv and environment
    # (pg_dump's, pg_restore's: the database's tools have no use for them).
    assert {"pg_dump", "pg_restore"} <= exposure.programs, exposure.programs
    # The bucket holds signatures made with the remote key, never the key.
    s3 = client(remote.endpoint)
    for key in remote.objects():
        exposure.seen.append((f"s3://{remote.bucket}/{key}",
                              s3.get_object(Bucket=remote.bucket, Key=key)["Body"].read()))
    for secret in (SECRET_KEY, ACCESS_KEY, REMOTE_KEY):
        leaks = [where for where, data in exposure.seen if secret.encode() in data]
        assert not leaks, f"{secret[:6]}... was seen in:\n  " + "\n  ".join(leaks)


def test_recover_takes_the_password_from_the_projects_config_only_for_the_same_login():
    """Issue 33, item 10: the journal's URL has its password masked; `recover` combines it
    with the project's own sqlalchemy.url, and only for the same server, database and user."""
    from sqlalchemy.engine import make_url

    from safeguard.credentials import public_url, with_credentials

    real = make_url("postgresql+psycopg://app:s3cret@db.example:5432/shop")
    recorded = make_url(public_url(real))
    assert "s3cret" not in public_url(real)
    assert with_credentials(recorded, real).password == "s3cret"
    assert with_credentials(recorded, make_url("postgresql://app:s3cret@db.example:5432/other")).password is None
    assert with_credentials(recorded, make_url("postgresql://admin:s3cret@db.example:5432/shop")).password is None
    assert with_credentials(recorded, None).password is None
    queried = make_url("postgresql+psycopg://app@db.example:5432/shop?password=s3cret")
    assert with_credentials(make_url(public_url(queried)), queried).password == "s3cret"
