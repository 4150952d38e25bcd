"""The package as users install it: build the sdist and the wheel, install the wheel
into a clean virtual environment, and look at what arrived there."""

from __future__ import annotations

import configparser
import hashlib
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

import safeguard

pytestmark = pytest.mark.slow
DIST = "alembic_safeguard"


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    """`python -m build`: the sdist, then the wheel built from it. From a copy of the
    source: the build writes its egg-info beside pyproject.toml, and two workers may
    build at once."""
    source = tmp_path_factory.mktemp("source") / "alembic-safeguard"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".safeguard", ".pgtest", ".pytest_cache", "__pycache__", "*.egg-info",
        "site", "dist", "build", "*.db", "*.db-*"))
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(source)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "deprecated" not in (result.stdout + result.stderr).lower()  # e.g. a license table
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def _venv(root: Path) -> Path:
    """A clean virtual environment whose dependencies come from the test's own
    environment (a .pth line after its site-packages), so nothing is downloaded; the
    package itself is installed from the wheel, without dependencies."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    purelib = Path(subprocess.run(
        [str(root / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    (purelib / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return purelib


def _install(root: Path, wheel: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"),
                           "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
                          capture_output=True, text=True, timeout=300)


def _tree(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def test_the_wheel_holds_safeguard_only(dists):
    names = zipfile.ZipFile(dists["wheel"]).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"safeguard", f"{DIST}-{safeguard.__version__}.dist-info"}
    metadata = zipfile.ZipFile(dists["wheel"]).read(
        f"{DIST}-{safeguard.__version__}.dist-info/METADATA").decode()
    assert "Name: alembic-safeguard" in metadata
    assert "License-Expression: MIT" in metadata
    assert "Classifier: Framework :: Flask" in metadata
    # sqlmodel serves the example application only: an extra, never a requirement.
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert all("extra ==" in line for line in requires if "sqlmodel" in line)
    assert any(line.startswith("Requires-Dist: alembic") for line in requires)


def test_the_sdist_builds_the_same_package(dists):
    with tarfile.open(dists["sdist"]) as tar:
        names = tar.getnames()
    root = f"{DIST}-{safeguard.__version__}"
    assert f"{root}/pyproject.toml" in names and f"{root}/LICENSE" in names
    assert f"{root}/safeguard/cli/__init__.py" in names


def test_the_entry_points(dists):
    text = zipfile.ZipFile(dists["wheel"]).read(
        f"{DIST}-{safeguard.__version__}.dist-info/entry_points.txt").decode()
    parser = configparser.ConfigParser()
    parser.read_string(text)
    assert dict(parser["console_scripts"]) == {"safeguard": "safeguard.cli:main"}
    assert dict(parser["pytest11"]) == {"safeguard": "safeguard.pytest_plugin"}
    assert dict(parser["flask.commands"]) == {"safeguard": "safeguard.flask:cli"}


def test_installed_into_a_clean_environment(dists, tmp_path):
    root = tmp_path / "venv"
    purelib = _venv(root)
    result = _install(root, dists["wheel"])
    assert result.returncode == 0, result.stderr
    installed = {p.name for p in purelib.iterdir()} - {"zz_test_dependencies.pth", "__pycache__"}
    assert {n for n in installed if not n.startswith("_")} == {
        "safeguard", f"{DIST}-{safeguard.__version__}.dist-info"}

    version = subprocess.run([str(root / "bin" / "safeguard"), "--version"],
                             capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == \
        f"safeguard, version {safeguard.__version__}"
    help_ = subprocess.run([str(root / "bin" / "safeguard"), "--help"],
                           capture_output=True, text=True, timeout=60)
    assert help_.returncode == 0 and "upgrade" in help_.stdout
    where = subprocess.run([str(root / "bin" / "python"), "-c",
                            "import safeguard; print(safeguard.__file__)"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert where.stdout.strip() == str(purelib / "safeguard" / "__init__.py")


def test_an_applications_own_core_package_is_left_alone(dists, tmp_path):
    """The wheel used to install the example application as a top-level `core`,
    over any application's own `core` package."""
    root = tmp_path / "venv"
    purelib = _venv(root)
    core = purelib / "core"
    (core / "database").mkdir(parents=True)
    (core / "__init__.py").write_text("APP = 'the shop'\n")
    (core / "database" / "__init__.py").write_text("")
    (core / "database" / "models.py").write_text("ORDERS = 'orders'\n")
    before = _tree(core)

    result = _install(root, dists["wheel"])

    assert result.returncode == 0, result.stderr
    assert _tree(core) == before
    app = subprocess.run([str(root / "bin" / "python"), "-c",
                          "import core, core.database.models as m; print(core.APP, m.ORDERS)"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert app.stdout.strip() == "the shop orders", app.stderr
