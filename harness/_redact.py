"""Credentials inside free text: log lines, messages, events, YAML dumps.

The ledger already hides values whose *key* looks secret (``redact`` in ``_report/ledger.py``), but
a credential also travels inside values: a connection URL in a controller error
(``postgres://user:secret@db/app``), an ``Authorization: Bearer ...`` header in a logged request,
``password=...`` in a command line. Reports are attached to public CI runs, so every text the
harness writes into a report (claim checks and evidence, the diagnostics bundle, component log
excerpts, setup errors quoting a log) goes through :func:`redact_text` first.

The patterns are shapes that only credentials take (userinfo in a URL, an auth scheme after
``Authorization``, a value after a secret-named key, a PEM private key, a JWT, well-known token
prefixes). Entropy-based scanners (detect-secrets and the like) were not used: they would also hide
git SHAs and object uids, which are exactly the evidence a report is for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

__all__ = ["REDACTED", "redact_text", "redact_tree"]

REDACTED = "***"

_KEY_WORDS = (
    r"password|passwd|pwd|passphrase|secret|client[_-]?secret|token|access[_-]?token|refresh[_-]?token"
    r"|auth[_-]?token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key|credentials?"
)

_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # -----BEGIN ... PRIVATE KEY----- blocks, whole (also when the newlines were flattened).
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S),
        f"-----BEGIN PRIVATE KEY-----{REDACTED}-----END PRIVATE KEY-----",
    ),
    # scheme://user:password@host -> scheme://user:***@host (the user name helps a reader, the password not).
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@\"']*:)[^\s/@\"']+(@)"), rf"\g<1>{REDACTED}\g<2>"),
    # Authorization: Bearer xyz / Basic xyz / Proxy-Authorization ..., as a header or a JSON field.
    (
        re.compile(r"(?i)(\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?)(?:(\w+)\s+)?[^\s\"',;]+"),
        lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}{REDACTED}",
    ),
    # A bare "Bearer <token>" anywhere (curl -H, Go's http dumps, gRPC metadata).
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9\-._~+/]+=*"), rf"\g<1>{REDACTED}"),
    # key=value, key: value, "key": "value" where the key names a secret (also prefixed: db_password=).
    (
        re.compile(
            rf"(?i)((?:\b|_)(?:{_KEY_WORDS})[\"']?[ \t]*[:=][ \t]*)"
            r"(?:(\")[^\"\n]*\"|(')[^'\n]*'|[^\s\"',;&}\])]+)"
        ),
        lambda m: f"{m.group(1)}{_quoted(m.group(2) or m.group(3) or '')}",
    ),
    # JSON Web Tokens (service-account tokens among them): three base64url parts, the first `{"`.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"), REDACTED),
    # Well-known token prefixes: GitHub, GitLab, Slack, AWS access key ids.
    (
        re.compile(
            r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}"
            r"|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16})\b"
        ),
        REDACTED,
    ),
)


def _quoted(quote: str) -> str:
    return f"{quote}{REDACTED}{quote}"


def redact_text(text: str) -> str:
    """``text`` with every credential-shaped part replaced by ``***``; other characters kept.

    Cheap enough for every line of a log excerpt (a handful of regular expressions, no parsing), and
    idempotent: redacting twice gives the same text.
    """
    if not text:
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def redact_tree(root: Path, *, max_bytes: int = 64 * 1024 * 1024) -> int:
    """Redact every UTF-8 text file under ``root`` in place (an exported log dump); return how many changed.

    Binary files, and files larger than ``max_bytes``, are left as they are: rewriting them as text would
    corrupt them. Never raises for a file it cannot read or write, because it runs after a failed
    session, where losing the other diagnostics to one odd file would be worse.
    """
    changed = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        try:
            if path.stat().st_size > max_bytes:
                continue
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        clean = redact_text(text)
        if clean != text:
            try:
                path.write_text(clean, encoding="utf-8")
            except OSError:
                continue
            changed += 1
    return changed
