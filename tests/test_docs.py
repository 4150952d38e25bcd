"""The documentation covers the product: every command, option, setting, exit code and
lint code is documented, the reference pages are written from the code, and the site
builds with `mkdocs build --strict`."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import re
import shutil
import subprocess
import sys

import click
import pytest
from conftest import REPO, load_module

from safeguard import errors
from safeguard.classify import codes
from safeguard.config import KNOWN_KEYS, PREFIXED_KEYS, Settings

DOCS = REPO / "docs"


reference = load_module("docs_reference", DOCS / "hooks" / "reference.py")
COMMANDS = list(reference.commands())


def _name(path: tuple[str, ...]) -> str:
    return " ".join(path)


def _option_groups():
    groups = list(COMMANDS)
    try:  # flask is an optional extra
        from safeguard.flask import cli as flask_cli
    except ImportError:
        return groups
    return [*groups, (("flask", "safeguard"), flask_cli)]


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[_name(p) for p, _ in COMMANDS])
def test_every_command_says_what_it_does(path, cmd):
    assert cmd.help and cmd.help.strip(), f"`{_name(path)}` has no docstring"
    # Arguments have no help of their own in click: the docstring must name them.
    for argument in (p for p in cmd.params if isinstance(p, click.Argument)):
        label = argument.human_readable_name
        assert label in cmd.help, f"`{_name(path)}`: the docstring does not explain {label}"


def test_every_option_has_help():
    undocumented = [f"{_name(path)} {'/'.join(option.opts)}"
                    for path, cmd in _option_groups()
                    for option in cmd.params
                    if isinstance(option, click.Option) and not (option.help or "").strip()]
    assert not undocumented, f"options without help= (they would be undocumented): {undocumented}"


def test_every_setting_is_a_documented_key():
    not_keys = {"config_file", "url", "sources", "host", "alembic_config", "sql_checks", "jobs"}
    fields = {f.name for f in dataclasses.fields(Settings)} - not_keys
    assert fields == set(KNOWN_KEYS), (
        f"settings without an entry in config.KNOWN_KEYS: {sorted(fields - set(KNOWN_KEYS))}; "
        f"keys that are no setting: {sorted(set(KNOWN_KEYS) - fields)}")
    assert all(meaning.strip() for meaning in (*KNOWN_KEYS.values(), *PREFIXED_KEYS.values()))


def test_every_error_class_is_documented():
    classes = reference.error_classes()
    subclasses = set()

    def walk(cls):
        for sub in cls.__subclasses__():
            if sub.__module__ == errors.__name__:
                subclasses.add(sub)
                walk(sub)

    walk(errors.SafeguardError)
    assert subclasses <= set(classes)
    for cls in classes:
        assert inspect.getdoc(cls) and cls.__doc__, f"{cls.__name__} has no docstring"
        assert cls.__name__ in errors.__doc__, f"{cls.__name__} is missing from errors.py's tree"


def test_every_lint_code_has_a_meaning():
    found = {value for name, value in vars(codes).items()
             if name.isupper() and isinstance(value, str) and re.fullmatch(r"[A-Z]{2}\d{3}", value)}
    assert found == set(codes.MEANINGS), f"codes without a meaning: {sorted(found - set(codes.MEANINGS))}"


def _rendered() -> str:
    return "\n".join(reference.render(page.read_text()) for page in sorted(DOCS.rglob("*.md")))


def test_the_pages_show_everything():
    """What the completeness checks above guarantee is documented reaches the pages."""
    site = _rendered()
    for path, cmd in _option_groups():
        assert f"`{_name(path)}`" in site or f"{_name(path)} [OPTIONS]" in site, _name(path)
        for option in (p for p in cmd.params if isinstance(p, click.Option)):
            assert f"`{', '.join(option.opts + option.secondary_opts)}" in site, (_name(path), option.opts)
    for key in KNOWN_KEYS:
        assert f"| `{key}` |" in site, key
    for prefix in PREFIXED_KEYS:
        assert f"| `{prefix}NAME` |" in site, prefix
    for cls in reference.error_classes():
        assert f"| {cls.exit_code} | `{cls.__name__}`" in site, cls.__name__
    for code in codes.MEANINGS:
        assert f"| `{code}` |" in site, code


def test_every_public_name_is_on_the_python_api_page():
    """Issue 30 item 10: 16 of the names `safeguard.__all__` exports were on no page.
    The page's reference is generated from `__all__`, each name with its signature and
    docstring, so a name without a docstring fails here."""
    import safeguard

    page = reference.render((DOCS / "python-api.md").read_text())
    missing = [name for name in safeguard.__all__ if f"`safeguard.{name}" not in page]
    assert not missing, f"public names not on the Python API page: {missing}"
    undocumented = [name for name in safeguard.__all__
                    if not (inspect.getdoc(getattr(safeguard, name)) or "").strip()]
    assert not undocumented, f"public names without a docstring: {undocumented}"


def test_the_guarded_run_example_is_a_real_run():
    """Issue 30 item 10: the page showed a console `safeguard upgrade` no longer prints
    ("Snapshot: yes (...)"); the example is now taken from a real run of the demo when
    the site is built (docs/hooks/examples.py)."""
    page = reference.render((DOCS / "guarded-run.md").read_text())
    example = page[page.index("## A failed migration, rolled back"):]
    example = example[:example.index("\n```\n", example.index("```console")) + 4]
    assert "$ safeguard upgrade head" in example and "Snapshot: yes" not in example
    assert "\nUndo: snapshot (" in example and "\n6\n" in example, example


def test_every_page_is_in_the_navigation():
    config = (REPO / "mkdocs.yml").read_text()
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    listed = set(re.findall(r":\s+(\S+\.md)\s*$", config, flags=re.M))
    assert pages == listed, f"not in mkdocs.yml's nav: {sorted(pages - listed)}; missing: {sorted(listed - pages)}"


def test_install_hints_name_the_distribution():
    """`pip install safeguard` installs someone else's package."""
    texts = [*DOCS.rglob("*.md"), REPO / "README.md", *(REPO / "safeguard").rglob("*.py")]
    wrong = [str(path.relative_to(REPO)) for path in texts
             if re.search(r"pip install '?safeguard", path.read_text())]
    assert not wrong, f"install hints with the wrong distribution name: {wrong}"


#: Extras for developing safeguard itself, never in a user's install line.
DEVELOPMENT_EXTRAS = {"example", "docs", "dev"}


def test_the_extras_agree_everywhere():
    """Issue 30 item 10: the README listed `mysql` and not `remote`, the docs' home page
    neither: the install sections of both name every extra a user can install, and
    every extra named anywhere exists."""
    import tomllib

    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
                 ["optional-dependencies"]) - DEVELOPMENT_EXTRAS
    texts = [*DOCS.rglob("*.md"), REPO / "README.md", *(REPO / "safeguard").rglob("*.py")]
    named = {extra for path in texts
             for group in re.findall(r"alembic-safeguard\[([a-z,]+)\]", path.read_text())
             for extra in group.split(",")}
    assert named <= extras | DEVELOPMENT_EXTRAS, f"extras that do not exist: {sorted(named - extras)}"
    for page in (REPO / "README.md", DOCS / "index.md"):
        install = page.read_text().split("## Install", 1)[1].split("\n## ", 1)[0]
        listed = {extra for group in re.findall(r"alembic-safeguard\[([a-z,]+)\]", install)
                  for extra in group.split(",")}
        listed |= set(re.findall(r"`([a-z]+)`", install)) & extras
        assert listed == extras, f"{page.name} does not name the extras {sorted(extras - listed)}"


def test_the_install_section_says_how_to_install_before_the_package_is_published():
    """Issue 30 item 10: `pip install alembic-safeguard` fails: it is not on PyPI yet."""
    for page in (REPO / "README.md", DOCS / "index.md"):
        install = page.read_text().split("## Install", 1)[1].split("\n## ", 1)[0]
        assert "not on PyPI" in install and "pip install ." in install, page.name


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(REPO / ".venv" / "bin")) or shutil.which("mkdocs")
    if mkdocs is None or importlib.util.find_spec("material") is None:
        pytest.skip("mkdocs-material is not installed (the docs extra)")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                             "--site-dir", str(tmp_path / "site")],
                            cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WARNING" not in result.stderr, result.stderr[-3000:]
    cli_page = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "safeguard snapshot create" in cli_page and "--lock-timeout" in cli_page
