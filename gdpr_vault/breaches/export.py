"""The CNIL-form export as a printable HTML page (the JSON is ``rules.cnil_form``)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

_TITLES = {
    "organisation": "1. Organisation and contact",
    "nature": "2. Nature of the breach",
    "dates": "3. Dates",
    "persons_and_records": "4. Persons and records concerned",
    "consequences": "5. Likely consequences",
    "measures": "6. Measures taken and proposed",
    "cross_border": "7. Cross-border processing",
    "information_of_persons": "8. Information of the persons concerned (Art. 34)",
}

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;max-width:52rem;margin:2rem auto;color:#111}
h1{font-size:1.4rem}h2{font-size:1.1rem;border-bottom:1px solid #999;margin-top:1.6rem}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3rem .5rem;
vertical-align:top;text-align:left}th{width:30%;background:#f4f4f4}
.missing{background:#fff3cd;border:1px solid #e0c060;padding:.5rem 1rem}
@media print{body{margin:0}.noprint{display:none}}
"""


def _value(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "<em>not known yet</em>"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "<ul>" + "".join(f"<li>{_value(v)}</li>" for v in value) + "</ul>"
    if isinstance(value, Mapping):
        return "<br>".join(
            f"{escape(str(k).replace('_', ' '))}: {_value(v)}" for k, v in value.items()
        )
    return escape(str(value))


def cnil_html(form: Mapping[str, Any]) -> str:
    """A self-contained page (no script, no external asset) the controller can print or save."""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(form['form'])} - {escape(form['breach_id'])}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{escape(form['form'])}</h1>",
        f"<p>Breach <code>{escape(form['breach_id'])}</code>, facts version "
        f"{form['facts_version']}, generated {escape(str(form.get('generated_at') or ''))}. "
        "Prepared by the processor for the controller's own notification; the controller "
        "completes its identity, its risk assessment and its Art. 34 decision.</p>",
    ]
    missing = form.get("missing_art_33_3") or []
    if missing:
        items = "".join(f"<li>Art. {escape(m['item'])}: {escape(m['label'])}</li>" for m in missing)
        parts.append(f'<div class="missing"><strong>Still missing:</strong><ul>{items}</ul></div>')
    for key, title in _TITLES.items():
        section = form["sections"].get(key) or {}
        rows = "".join(
            f"<tr><th>{escape(name.replace('_', ' '))}</th><td>{_value(value)}</td></tr>"
            for name, value in section.items()
        )
        parts.append(f"<h2>{escape(title)}</h2><table>{rows}</table>")
    notices = form.get("notices") or []
    if notices:
        rows = "".join(
            f"<tr><td>{escape(n['phase'])} #{n['sequence']}</td><td>{_value(n['sent_at'])}</td>"
            f"<td>{_value(n.get('received_at'))}</td></tr>"
            for n in notices
        )
        parts.append(
            "<h2>Notices from the processor</h2><table><tr><th>notice</th><th>sent</th>"
            f"<th>received</th></tr>{rows}</table>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
