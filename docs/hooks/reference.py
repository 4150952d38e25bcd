"""The reference pages, written from the code at build time (an MkDocs hook).

A page asks for a generated section with a marker line, `<!-- generated: NAME -->`;
the hook replaces it with what SECTIONS[NAME] returns. The sources are the code users
run, so the reference cannot drift from it:

    cli            the click commands of `safeguard` (safeguard/cli)
    flask-cli      the global options of `flask safeguard` (safeguard/flask.py)
    configuration  the settings table (safeguard/config.py: KNOWN_KEYS, PREFIXED_KEYS, Settings)
    exit-codes     the error classes (safeguard/errors.py)
    lint-codes     the finding codes (safeguard/classify/codes.py)
    python-api     every name `safeguard.__all__` exports: signature and docstring
    guarded-run    the console of real runs of `safeguard upgrade` (examples.py)

tests/test_docs.py imports this module to check that everything is documented.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any, Callable, Iterator

import click

MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)


# -- the command line ----------------------------------------------------------------------

def commands(group: click.Command | None = None,
             path: tuple[str, ...] = ("safeguard",)) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under ``group`` (default: `safeguard`), with its path, group first."""
    if group is None:
        from safeguard.cli import main as group
    yield path, group
    if isinstance(group, click.Group):
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            yield from commands(group.get_command(ctx, name), (*path, name))


def _usage(path: tuple[str, ...], cmd: click.Command) -> str:
    ctx = click.Context(cmd, info_name=" ".join(path))
    return f"{' '.join(path)} {' '.join(cmd.collect_usage_pieces(ctx))}".strip()


def _option_line(option: click.Option) -> str:
    names = ", ".join(option.opts + option.secondary_opts)
    if not option.is_flag and not option.count:
        metavar = option.metavar or option.type.get_metavar(option, click.Context(click.Command("x"))) \
            or option.name.upper()
        names += f" {metavar}"
    default = ""
    if option.show_default and option.default not in (None, False, ()):
        default = f" (default: `{option.default}`)"
    return f"- `{names}`: {_sentence(option.help or '')}{default}"


def _sentence(text: str) -> str:
    return " ".join(text.split())


def _help_text(cmd: click.Command) -> str:
    """The command's docstring as Markdown: click's paragraphs, indented blocks as code."""
    text = inspect.cleandoc(cmd.help or "").replace("\b\n", "")
    out = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.splitlines()
        if lines and all(line.startswith("    ") or not line.strip() for line in lines):
            out.append("```\n" + "\n".join(line[4:] for line in lines) + "\n```")
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def cli_reference() -> str:
    """Every command: usage, help text, options."""
    parts = ["| command | what it does |", "| --- | --- |"]
    listed = list(commands())
    for path, cmd in listed[1:]:
        if not isinstance(cmd, click.Group):
            anchor = "-".join(path)
            parts.append(f"| [`{' '.join(path[1:])}`](#{anchor}) | "
                         f"{_sentence(cmd.get_short_help_str(200))} |")
    for path, cmd in listed:
        level = "##" if len(path) <= 2 else "###"
        title = " ".join(path)
        anchor = "-".join(path)
        parts.append(f"\n{level} `{title}` {{#{anchor}}}\n")
        parts.append(f"```\n{_usage(path, cmd)}\n```\n")
        parts.append(_help_text(cmd) + "\n")
        options = [p for p in cmd.params if isinstance(p, click.Option)]
        if path == ("safeguard",):
            options = [p for p in options if p.name != "version"] + \
                      [p for p in options if p.name == "version"]
        if options:
            parts.append("Options:\n")
            parts.extend(_option_line(o) for o in options)
            parts.append("- `-h, --help`: Show the help and exit.")
    return "\n".join(parts) + "\n"


def flask_cli_reference() -> str:
    """The global options of `flask safeguard` (its commands are safeguard's)."""
    try:
        from safeguard.flask import cli
    except ImportError:
        return "(Install the `flask` extra to see the options of `flask safeguard` here.)\n"
    options = [p for p in cli.params if isinstance(p, click.Option)]
    return (f"```\n{_usage(('flask', 'safeguard'), cli)}\n```\n\n"
            + "\n".join(_option_line(o) for o in options) + "\n")


# -- configuration -----------------------------------------------------------------------------

def _default(key: str) -> str:
    from safeguard.config import Settings

    default = {f.name: f for f in dataclasses.fields(Settings)}[key].default
    if key == "store":
        return "`.safeguard` beside the config file"
    if default is None or default == ():
        return "none"
    return f"`{default:g}`" if isinstance(default, float) else f"`{default}`"


def configuration_reference() -> str:
    """Every key of `[safeguard]`: default, environment variable, meaning."""
    from safeguard.config import KNOWN_KEYS, PREFIXED_KEYS

    rows = ["| key | default | environment | meaning |", "| --- | --- | --- | --- |"]
    for key, meaning in KNOWN_KEYS.items():
        rows.append(f"| `{key}` | {_default(key)} | `SAFEGUARD_{key.upper()}` | {_cell(meaning)} |")
    for prefix, meaning in PREFIXED_KEYS.items():
        rows.append(f"| `{prefix}NAME` | none | - | {_cell(meaning)} |")
    return "\n".join(rows) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


# -- errors and codes --------------------------------------------------------------------------

def error_classes() -> list[type]:
    """SafeguardError and every subclass, in the order errors.py defines them."""
    from safeguard import errors

    found = [obj for _, obj in inspect.getmembers(errors, inspect.isclass)
             if issubclass(obj, errors.SafeguardError) and obj.__module__ == errors.__name__]
    source = inspect.getsource(errors)
    return sorted(found, key=lambda cls: source.index(f"class {cls.__name__}("))


def exit_codes_reference() -> str:
    """Each exit code, the error classes that carry it, and what each means."""
    rows = ["| code | error | meaning |", "| --- | --- | --- |",
            "| 0 | - | done (or nothing to do) |"]
    for cls in sorted(error_classes(), key=lambda c: c.exit_code):
        parent = cls.__mro__[1].__name__
        kind = f"`{cls.__name__}`" + (f" (a {parent})" if parent != "Exception" else "")
        rows.append(f"| {cls.exit_code} | {kind} | {_cell(_sentence(inspect.getdoc(cls) or ''))} |")
    rows.append("| 130 | - | interrupted (Ctrl-C) |")
    return "\n".join(rows) + "\n"


def lint_codes_reference() -> str:
    """Each finding code and its meaning."""
    from safeguard.classify.codes import MEANINGS

    rows = ["| code | the revision ... |", "| --- | --- |"]
    rows += [f"| `{code}` | {_cell(meaning)} |" for code, meaning in sorted(MEANINGS.items())]
    return "\n".join(rows) + "\n"


# -- the Python API ------------------------------------------------------------------------------

def _default_text(value: Any) -> str:
    """A default as a reader writes it (a function by its name, never its address)."""
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    return repr(value)


def _signature(fn: Callable[..., Any]) -> str:
    """``(settings, target='head', *, report=silent)``: names and defaults, no annotations."""
    out, star = [], False
    for param in inspect.signature(fn).parameters.values():
        if param.kind is param.KEYWORD_ONLY and not star:
            out.append("*")
            star = True
        prefix = {param.VAR_POSITIONAL: "*", param.VAR_KEYWORD: "**"}.get(param.kind, "")
        star = star or param.kind is param.VAR_POSITIONAL
        default = "" if param.default is param.empty else f"={_default_text(param.default)}"
        out.append(f"{prefix}{param.name}{default}")
    return f"({', '.join(out)})"


def _doc(obj: Any) -> str:
    """The docstring as Markdown paragraphs (indented blocks as code)."""
    text = inspect.getdoc(obj) or ""
    out = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.splitlines()
        if lines and all(line.startswith("    ") or not line.strip() for line in lines):
            out.append("```python\n" + "\n".join(line[4:] for line in lines) + "\n```")
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def python_api_reference() -> str:
    """Every public name of `safeguard` (its ``__all__``): the functions, with their
    signatures, then the types, each with its docstring."""
    import safeguard

    found = [(name, getattr(safeguard, name)) for name in safeguard.__all__]
    functions = [(n, o) for n, o in found if not inspect.isclass(o)]
    types_ = [(n, o) for n, o in found if inspect.isclass(o)]
    parts = ["### Functions\n"]
    for name, fn in functions:
        parts.append(f"#### `safeguard.{name}{_signature(fn)}` {{#{name.lower()}}}\n\n{_doc(fn)}\n")
    parts.append("### Types\n")
    for name, cls in types_:
        fields = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
        listed = f"\n\nFields: {', '.join(f'`{f}`' for f in fields)}." if fields else ""
        parts.append(f"#### `safeguard.{name}` {{#{name.lower()}-type}}\n\n{_doc(cls)}{listed}\n")
    return "\n".join(parts)


def _examples() -> Any:
    """docs/hooks/examples.py (a hook's directory is not on sys.path)."""
    import importlib.util
    import sys
    from pathlib import Path

    name = "safeguard_docs_examples"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("examples.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


SECTIONS: dict[str, Callable[[], str]] = {
    "cli": cli_reference,
    "flask-cli": flask_cli_reference,
    "configuration": configuration_reference,
    "exit-codes": exit_codes_reference,
    "lint-codes": lint_codes_reference,
    "python-api": python_api_reference,
    "guarded-run": lambda: _examples().guarded_run_failure(),
}


def render(markdown: str) -> str:
    """``markdown`` with every marker replaced by its generated section."""

    def section(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in SECTIONS:
            raise ValueError(f"unknown generated section {name!r} (known: {', '.join(SECTIONS)})")
        return SECTIONS[name]()

    return MARKER.sub(section, markdown)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs hook: fill in the generated sections of each page."""
    return render(markdown)
