"""Jinja2 templates for notices: ``templates/<kind>.<lang>.{subject.txt,txt,html}``.

StrictUndefined makes a missing fact an error at queue time rather than a blank in a legal
notice; HTML templates are autoescaped, plain-text ones are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
LANGUAGES = ("fr", "en")


@dataclass(frozen=True)
class Rendered:
    language: str
    subject: str
    text: str
    html: str | None


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        keep_trailing_newline=True,
        auto_reload=False,
    )


@cache
def has_template(kind: str, language: str) -> bool:
    """Templates ship with the code (no reload), so the answer is looked up once per kind."""
    base = TEMPLATES_DIR / f"{kind}.{language}"
    return (
        Path(f"{base}.subject.txt").is_file()
        and Path(f"{base}.txt").is_file()
        and "/" not in kind
        and "\\" not in kind
    )


def template_language(kind: str, wanted: str) -> str:
    """The recipient's language when the kind speaks it, else the other one; LookupError if none."""
    for language in (wanted, *LANGUAGES):
        if language in LANGUAGES and has_template(kind, language):
            return language
    raise LookupError(f"no template for notice kind {kind!r} (looked in {TEMPLATES_DIR})")


@cache
def templates(kind: str, language: str) -> tuple[str, Template, Template, Template | None]:
    """The compiled templates for a kind in the language it speaks nearest ``language``."""
    language = template_language(kind, language)
    env = environment()
    html = None
    if (TEMPLATES_DIR / f"{kind}.{language}.html").is_file():
        html = env.get_template(f"{kind}.{language}.html")
    return (
        language,
        env.get_template(f"{kind}.{language}.subject.txt"),
        env.get_template(f"{kind}.{language}.txt"),
        html,
    )


def render(kind: str, language: str, context: dict[str, Any]) -> Rendered:
    language, subject_template, text_template, html_template = templates(kind, language)
    subject = subject_template.render(context)
    text = text_template.render(context)
    html = html_template.render(context) if html_template is not None else None
    # A subject is one line: header injection is impossible and clients show it whole.
    subject = " ".join(subject.split())
    return Rendered(language, subject, text, html)
