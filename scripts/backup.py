"""Back up and restore the Poolula database: the familiar interface, now a thin shim
over safeguard's snapshot store.

    python scripts/backup.py                  take a snapshot
    python scripts/backup.py --list           list snapshots
    python scripts/backup.py --restore ID     restore one ('latest' for the newest)
    python scripts/backup.py --clean          prune by the retention policy

The database is the one DATABASE_URL names; snapshots go to the store configured in
alembic.ini's [safeguard] section (default .safeguard/).
"""

from __future__ import annotations

import argparse
import sys

from safeguard import api
from safeguard.config import load_settings
from safeguard.errors import SafeguardError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", default="alembic.ini", help="path to alembic.ini")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="list snapshots")
    action.add_argument("--restore", metavar="ID", help="restore a snapshot ('latest' for the newest)")
    action.add_argument("--clean", action="store_true", help="prune by the retention policy")
    args = parser.parse_args(argv)

    try:
        settings = load_settings(args.config)
        if args.list:
            for s in api.list_snapshots(settings):
                print(f"{s.id}  {s.created_at}  {s.revision or 'base':<14} {s.size:>13,}  {s.label or s.reason}")
        elif args.restore:
            outcome = api.restore(settings, args.restore, report=print)
            print(f"restored {outcome.snapshot.id}")
        elif args.clean:
            decisions = api.prune(settings)
            print(f"pruned {sum(not d.keep for d in decisions)} snapshot(s)")
        else:
            print(api.create_snapshot(settings, label="backup.py", reason="manual: scripts/backup.py").id)
    except SafeguardError as exc:
        print(f"backup.py: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
