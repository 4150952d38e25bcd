"""Split SQL text into the statements a database would actually run.

sqlglot's own splitter cuts at every top-level semicolon, which is wrong for the
one place semicolons legitimately nest: the body of a trigger, function or
procedure (``CREATE TRIGGER ... BEGIN UPDATE ...; END``). Such a body is stored,
not executed, so it must stay inside its CREATE statement rather than surface as
statements of its own. Dollar-quoted bodies (PostgreSQL ``$$ ... $$``) arrive as a
single string token from the tokenizer and need no special care here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

#: Tokens a function's body can be written as (``AS $$ ... $$``, ``AS '...'``).
_BODY_TOKENS = frozenset({TokenType.HEREDOC_STRING, TokenType.STRING, TokenType.RAW_STRING})
#: Objects whose CREATE statement carries a stored body.
_ROUTINES = frozenset({"TRIGGER", "FUNCTION", "PROCEDURE", "RULE"})
#: Keywords that open a block closed by END inside a stored body.
_BLOCK_OPENERS = frozenset({"BEGIN", "CASE"})
#: Blocks closed by "END <keyword>" whose openers double as ordinary keywords
#: (IF NOT EXISTS, the IF() function...), so they are not counted at all.
_UNCOUNTED_BLOCKS = frozenset({"IF", "LOOP", "WHILE", "REPEAT", "FOR"})


class SqlUnreadable(Exception):
    """The text could not even be tokenized (e.g. an unterminated string)."""


@dataclass(frozen=True)
class Statement:
    """One statement: its text and tokens."""

    text: str
    tokens: tuple[Token, ...]

    @property
    def keywords(self) -> list[str]:
        """Upper-cased token texts, for keyword tests."""
        return [t.text.upper() for t in self.tokens]

    @property
    def is_routine_definition(self) -> bool:
        """True for CREATE [OR REPLACE] TRIGGER/FUNCTION/PROCEDURE/RULE: creating it changes no rows."""
        return _is_routine(self.tokens)

    def created_routine(self) -> tuple[str, str | None] | None:
        """For CREATE [OR REPLACE] FUNCTION/PROCEDURE: its unqualified name and its body
        (the string after AS, or what BEGIN ATOMIC ... END encloses; None when
        neither is there). None for any other statement."""
        words = self.keywords[:6]
        kind = next((w for w in words if w in {"FUNCTION", "PROCEDURE"}), None)
        if kind is None or not self.is_routine_definition:
            return None
        at = self.keywords.index(kind) + 1
        name = None
        while at < len(self.tokens) and self.tokens[at].token_type != TokenType.L_PAREN:
            if self.tokens[at].token_type != TokenType.DOT:
                name = self.tokens[at].text
            at += 1
        if name is None:
            return None
        return name, self._body()

    def _body(self) -> str | None:
        words, tokens, offset = self.keywords, self.tokens, self.tokens[0].start
        for i in range(len(tokens) - 1):
            if words[i] == "AS" and tokens[i + 1].token_type in _BODY_TOKENS:
                return tokens[i + 1].text
            if words[i] == "BEGIN" and words[i + 1] == "ATOMIC":
                if i + 2 >= len(tokens):
                    return None
                return self.text[tokens[i + 2].start - offset : tokens[-1].start - offset]
            if words[i] == "RETURN":  # RETURN expression (SQL standard body)
                return "SELECT " + self.text[tokens[i + 1].start - offset :]
        return None


def tokenizer_dialect(dialect: str | None) -> str:
    """The sqlglot dialect whose tokenizer splits text meant for ``dialect``.

    With no dialect the PostgreSQL tokenizer is used: it is the only common one
    with dollar quoting, and tokenizing (unlike parsing) is not dialect-picky.
    """
    return dialect or "postgres"


def tokenize(sql: str, dialect: str | None) -> list[Token]:
    """Tokenize ``sql``; :class:`SqlUnreadable` when that fails."""
    try:
        return Dialect.get_or_raise(tokenizer_dialect(dialect)).tokenize(sql)
    except SqlglotError as exc:
        raise SqlUnreadable(str(exc)) from exc


def split_statements(sql: str, dialect: str | None) -> list[Statement]:
    """Cut ``sql`` into statements at top-level semicolons, keeping stored bodies whole."""
    tokens = tokenize(sql, dialect)
    statements: list[Statement] = []
    current: list[Token] = []
    depth = 0
    for index, token in enumerate(tokens):
        if token.token_type == TokenType.SEMICOLON and depth == 0:
            _close(sql, current, statements)
            current = []
            continue
        current.append(token)
        word = token.text.upper()
        if word in _BLOCK_OPENERS and _is_routine(current):
            depth += 1
        elif word == "END" and depth > 0 and not _closes_uncounted(tokens, index):
            depth -= 1
    _close(sql, current, statements)
    return statements


def _closes_uncounted(tokens: list[Token], index: int) -> bool:
    """True for END IF / END LOOP / ...: those close blocks whose openers are not counted."""
    following = tokens[index + 1].text.upper() if index + 1 < len(tokens) else ""
    return following in _UNCOUNTED_BLOCKS


def _close(sql: str, tokens: list[Token], into: list[Statement]) -> None:
    if tokens:
        text = sql[tokens[0].start : tokens[-1].end + 1]
        into.append(Statement(text=text, tokens=tuple(tokens)))


def _is_routine(tokens: list[Token] | tuple[Token, ...]) -> bool:
    if not tokens or tokens[0].text.upper() != "CREATE":
        return False
    # Look past CREATE [OR REPLACE] [TEMP] [CONSTRAINT] ... for the object kind.
    for token in tokens[1:6]:
        word = token.text.upper()
        if word in _ROUTINES:
            return True
        if word in {"TABLE", "INDEX", "VIEW", "SCHEMA", "SEQUENCE", "TYPE", "UNIQUE"}:
            return False
    return False
