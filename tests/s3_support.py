"""Fixtures for tests against a real S3-compatible server: moto's standalone server, run
as its own process on 127.0.0.1 and spoken to over real HTTP.

scripts/s3test.sh (chained in `make test`) starts one for the run and exports its
address as SAFEGUARD_TEST_S3_ENDPOINT. Without it the tests that need it skip; with
SAFEGUARD_REQUIRE_S3=1 (as .ci/run sets it) they FAIL instead. Fault tests that kill
the server start a private one (``MotoServer``), which needs only moto installed.

    s3_server   the shared server's endpoint (session)
    s3_remote   a fresh bucket on it, throwaway credentials and a remote key in this
                process's environment (undone after the test), and the project configured
                for it
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REQUIRE = os.environ.get("SAFEGUARD_REQUIRE_S3") == "1"
#: Throwaway credentials: moto accepts any; the secrets suite looks for these strings.
ACCESS_KEY = "AKIASGTESTACCESSKEY7"
SECRET_KEY = "sg-test-secret-" + "q7Zr4xN2vP9mW1kL6tY3"
#: The key that signs the remote's manifests (safeguard/signature.py), a secret too.
REMOTE_KEY = "sg-test-remote-key-" + "Zx81mQ4vLp0sT7nW3yK6rB9c"


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when the S3 server is required."""
    if REQUIRE:
        pytest.fail(f"an S3 server is required (SAFEGUARD_REQUIRE_S3=1) but {reason}", pytrace=False)
    pytest.skip(f"no S3 server: {reason} (run through `scripts/s3test.sh run ...` or `make test`)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MotoServer:
    """A private moto server process: started, killed and restarted by a test."""

    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MotoServer":
        try:
            import moto.server  # noqa: F401
        except ImportError:
            unavailable("moto[server] is not installed (make install)")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **self.env})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1)
                return self
            except OSError:
                if self.process.poll() is not None:
                    unavailable("the moto server exited at start")
                time.sleep(0.1)
        self.kill()
        unavailable("the moto server did not answer within 30 s")
        return self

    def kill(self) -> None:
        """SIGKILL: what a crashed or unplugged server does (its buckets are gone too)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def client(endpoint: str):
    """A boto3 client for the test's own checks (listing, corrupting objects)."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


@dataclass
class S3Remote:
    """One bucket on a server, and the settings that point a project at it."""

    endpoint: str
    bucket: str
    prefix: str = "team/app"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def keys(self) -> dict[str, str]:
        """The [safeguard] keys for ProjectDir.configure."""
        return {"remote": self.url, "remote_endpoint": self.endpoint, "remote_region": "us-east-1"}

    def objects(self) -> list[str]:
        found = client(self.endpoint).list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return sorted(o["Key"] for o in found)

    def create_bucket(self) -> "S3Remote":
        client(self.endpoint).create_bucket(Bucket=self.bucket)
        return self


def credentials_env() -> dict[str, str]:
    """The throwaway credentials and remote key, as a test's own processes get them."""
    return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "SAFEGUARD_REMOTE_KEY": REMOTE_KEY,
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


@pytest.fixture(scope="session")
def s3_server() -> str:
    endpoint = os.environ.get("SAFEGUARD_TEST_S3_ENDPOINT")
    if not endpoint:
        unavailable("SAFEGUARD_TEST_S3_ENDPOINT is not set")
    return endpoint  # type: ignore[return-value]


@pytest.fixture
def s3_credentials(monkeypatch) -> dict[str, str]:
    """Throwaway credentials and a remote key in this process's environment (undone
    after the test)."""
    env = credentials_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def s3_remote(s3_server, s3_credentials, project) -> S3Remote:
    remote = S3Remote(s3_server, f"sg-test-{secrets.token_hex(4)}").create_bucket()
    project.configure(**remote.keys)
    return remote


def corrupt(remote: S3Remote, key: str) -> None:
    """Replace an object's bytes on the server with bytes of the same length."""
    s3 = client(remote.endpoint)
    body = bytearray(s3.get_object(Bucket=remote.bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    s3.put_object(Bucket=remote.bucket, Key=key, Body=bytes(body))


def payload_keys(remote: S3Remote, snapshot_id: str) -> list[str]:
    return [k for k in remote.objects() if f"/{snapshot_id}/" in k and not k.endswith("manifest.json")]


def delete_local(store: Path) -> None:
    """The new machine: no local snapshots at all."""
    import shutil

    shutil.rmtree(store / "snapshots", ignore_errors=True)
