"""Upload and download of a large snapshot to an S3-compatible server (a local moto
server, started here), beside raw boto3 (`aws s3 cp`'s transfer manager with its
defaults) and a plain file copy of the same bytes.

    python benchmarks/remote_bench.py [--size-mb 1024] [--dir DIR] [--quick]

Each operation runs in a child process, so its peak memory (ru_maxrss, from wait4) is
its own; times are wall-clock, measured inside the child around the transfer alone.
safeguard's download includes checking the file's digest against the manifest and the
rename into the store. Target (issue 15): peak memory under 100 MiB for a 1 GiB
snapshot, up and down. The server is moto's standalone server on 127.0.0.1: it keeps
objects in its own memory, so the times say little about a real service, and the
memory figures are the client's alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
#: A throwaway remote key: uploads are signed and downloads authenticated, as configured.
REMOTE_KEY = "bench-remote-key-" + "0123456789abcdefghijklmnop"


def start_server() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the moto server did not start")


def child(code: str) -> tuple[float, int]:
    """Run ``code`` in a child Python; (seconds it reported, peak RSS in KiB)."""
    program = "import time\n" + textwrap.dedent(code) + "\nprint(time.perf_counter() - T0)\n"
    proc = subprocess.Popen([sys.executable, "-c", program], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **CREDENTIALS})
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark step failed:\n{program}")
    return float(output.strip().splitlines()[-1]), usage.ru_maxrss


def settings(endpoint: str, bucket: str) -> str:
    return (f"Settings(config_file=Path('alembic.ini'), remote='s3://{bucket}/bench', "
            f"remote_endpoint={endpoint!r}, remote_region='us-east-1', remote_key={REMOTE_KEY!r})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="16 MiB: a smoke run, for the tests")
    args = parser.parse_args()
    size_mb = 16 if args.quick else args.size_mb

    work = Path(tempfile.mkdtemp(prefix="safeguard-remote-bench-", dir=args.dir))
    server, endpoint = start_server()
    try:
        snapshot_dir = work / "snapshots" / "20260101T000000Z-be0c00"
        snapshot_dir.mkdir(parents=True)
        payload = snapshot_dir / "database.sqlite"
        manifest = work / "manifest.json"
        # Set up in a child too: a child's ru_maxrss starts from its parent's size at
        # the fork, so this process stays small (no boto3, no buffers).
        child(f"""
            import json, os
            from pathlib import Path
            import boto3
            from safeguard import digest
            from safeguard.manifest import Snapshot
            payload = Path({str(payload)!r})
            with open(payload, "wb") as out:
                block = os.urandom(1024 * 1024)
                for i in range({size_mb}):
                    out.write(block[i % 7:] + block[:i % 7])
            found = digest.of_file(payload)
            snap = Snapshot(id={snapshot_dir.name!r}, created_at="2026-01-01T00:00:00+00:00",
                            reason="bench", engine="sqlite", database="/bench.db", revisions=(),
                            size=payload.stat().st_size, sha256=found, files={{payload.name: found}},
                            row_counts={{}})
            Path({str(manifest)!r}).write_text(json.dumps(snap.to_dict()))
            boto3.client("s3", endpoint_url={endpoint!r}).create_bucket(Bucket="bench")
            T0 = time.perf_counter()
        """)
        preamble = f"""
            import json
            from pathlib import Path
            from safeguard.config import Settings
            from safeguard.manifest import Snapshot
            from safeguard.remote import Remote
            snap = Snapshot.from_dict(json.loads(Path({str(manifest)!r}).read_text()))
        """
        rows = []
        rows.append(("plain file copy (cp)", *child(f"""
            import shutil
            T0 = time.perf_counter()
            shutil.copyfile({str(payload)!r}, {str(work / 'copy.bin')!r})
        """)))
        (work / "copy.bin").unlink()
        rows.append(("raw boto3 upload_file (aws s3 cp)", *child(f"""
            import boto3
            client = boto3.client("s3", endpoint_url={endpoint!r})
            T0 = time.perf_counter()
            client.upload_file({str(payload)!r}, "bench", "raw/payload")
        """)))
        rows.append(("safeguard upload (payload + manifest)", *child(preamble + f"""
            remote = Remote({settings(endpoint, 'bench')})
            T0 = time.perf_counter()
            remote.upload(snap, Path({str(snapshot_dir)!r}))
        """)))
        rows.append(("raw boto3 download_file (aws s3 cp)", *child(f"""
            import boto3
            client = boto3.client("s3", endpoint_url={endpoint!r})
            T0 = time.perf_counter()
            client.download_file("bench", "raw/payload", {str(work / 'raw.bin')!r})
        """)))
        (work / "raw.bin").unlink()
        store = work / "new-machine-store"
        rows.append(("safeguard download (+ digest check)", *child(preamble + f"""
            from safeguard.store import SnapshotStore
            remote = Remote({settings(endpoint, 'bench')})
            store = SnapshotStore(Path({str(store)!r}))
            T0 = time.perf_counter()
            remote.download(snap.id, store)
        """)))

        load = os.getloadavg()[0]
        print(f"remote store: {size_mb} MiB snapshot, moto server on 127.0.0.1 "
              f"(load average {load:.2f} at the end)")
        print(f"{'operation':<40} {'seconds':>8} {'MiB/s':>8} {'peak RSS MiB':>13}")
        for label, seconds, peak in rows:
            print(f"{label:<40} {seconds:>8.2f} {size_mb / seconds:>8.0f} {peak / 1024:>13.1f}")
        worst = max(peak for label, _, peak in rows if label.startswith("safeguard")) / 1024
        print(f"safeguard's peak RSS: {worst:.1f} MiB (target < 100 MiB)")
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
