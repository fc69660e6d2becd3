"""Fan-out rendering: notices that differ only in their recipients' own values are rendered
once per group, with slots, and each notice fills its slots in.

Why: one sub-processor change goes to thousands of clients whose notices differ only in whom
they address (names, ids, links). Jinja costs a full render per notice; filling slots into a
group's rendered text costs a few microseconds. That is only the same text when the templates
print those values verbatim (HTML-escaped in HTML templates) or merely test whether they are
set, so :func:`template_violations` proves it from each template's syntax tree and a kind
whose templates fail the proof is rendered notice by notice, as before. Tests run every
grouped render beside the direct one and compare them (:data:`VERIFY`).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

from jinja2 import Template, nodes
from markupsafe import escape

from gdpr_vault.notifications.messages import BodyPlan
from gdpr_vault.notifications.render import Rendered, environment, render, templates

#: Context paths that hold a recipient's own values: what a group leaves as slots.
RECIPIENT_PATHS = (
    "recipient.name",
    "client.id",
    "client.legal_name",
    "notice.id",
    "notice.client_id",
    "receipt_url",
)
#: Per-recipient context a grouped render never reads (its facts, fully per notice).
HIDDEN_PATHS = ("notice.facts",)
#: Set by the tests: every grouped render is compared with a direct one (AssertionError).
VERIFY = False

_FACT_SLOTS: dict[str, tuple[str, ...]] = {}
# A sentinel cannot come from the data: NUL is refused at the API and the nonce is per process.
_NONCE = secrets.token_hex(8)
_SENTINEL = re.compile(f"\x00{_NONCE}:([0-9]+)\x00")

_UNSAFE_NODES = (
    nodes.FilterBlock,  # {% filter upper %}: transforms the sentinels themselves
    nodes.AssignBlock,  # {% set x %}...{% endset %}: captured text measured or cut as-is
    nodes.Extends,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.Macro,
    nodes.CallBlock,
    nodes.Block,
    nodes.EvalContextModifier,
    nodes.ContextReference,
    nodes.DerivedContextReference,
)


def declare_fact_slots(kind: str, paths: Sequence[str]) -> None:
    """Name the facts of ``kind`` that differ per client (dotted paths under ``facts``), so a
    fan-out groups notices on everything else; facts not named here are part of the group."""
    _FACT_SLOTS[kind] = tuple(dict.fromkeys((*_FACT_SLOTS.get(kind, ()), *paths)))
    _SLOT_PATHS.pop(kind, None)


_SLOT_PATHS: dict[str, tuple[str, ...]] = {}


def slot_paths(kind: str) -> tuple[str, ...]:
    paths = _SLOT_PATHS.get(kind)
    if paths is None:
        paths = RECIPIENT_PATHS + tuple(f"facts.{p}" for p in _FACT_SLOTS.get(kind, ()))
        _SLOT_PATHS[kind] = paths
    return paths


@cache
def _split(paths: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(p.split(".")) for p in paths)


_HIDDEN = _split(HIDDEN_PATHS)


@cache
def _slot(number: int) -> str:
    return f"\x00{_NONCE}:{number}\x00"


# --- the proof -------------------------------------------------------------------------------


def _load_path(node: nodes.Node) -> tuple[str, ...] | None:
    """``a.b["c"]`` as ``("a", "b", "c")``; None for anything but a constant access chain."""
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            parts.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Name) and node.ctx == "load":
            parts.append(node.name)
            return tuple(reversed(parts))
        else:
            return None


def _method_like(name: str) -> bool:
    """``recipient.get``, ``facts.items``, ``x._private``: Jinja looks attributes up before
    keys, so these reach a dict's methods (or internals), not the values the proof follows.
    (Through a slot's own string value, ``recipient.name.upper``, the prefix rule refuses.)"""
    return name.startswith("_") or hasattr(dict, name)


def _walk(
    node: nodes.Node,
    parent: nodes.Node | None,
    field: str | None,
    slots: Sequence[tuple[str, ...]],
    hidden: Sequence[tuple[str, ...]],
) -> Iterator[str]:
    roots = {path[0] for path in (*slots, *hidden)}
    if isinstance(node, _UNSAFE_NODES):
        yield f"line {node.lineno}: {type(node).__name__} (reads the context out of sight)"
        return
    if isinstance(node, nodes.Name) and node.ctx != "load" and node.name in roots:
        yield f"line {node.lineno}: {node.name!r} is rebound"
        return
    if isinstance(node, nodes.For) and node.recursive:
        yield f"line {node.lineno}: a recursive loop (its loop() call can filter anything)"
        return
    path = _load_path(node)
    if path is not None and any(_method_like(part) for part in path[1:]):
        yield f"line {node.lineno}: {'.'.join(path)} reaches a method or a private attribute"
        return
    if path is not None:
        for other in (*slots, *hidden):
            depth = min(len(path), len(other))
            if path[:depth] != other[:depth]:
                continue  # unrelated
            verbatim = isinstance(parent, nodes.Output) or (
                isinstance(parent, nodes.If) and field == "test"
            )
            if path == other and other in slots and verbatim:
                continue
            yield f"line {node.lineno}: {'.'.join(path)} is used other than printed or tested"
        return
    for name, value in node.iter_fields():
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, nodes.Node):
                yield from _walk(child, node, name, slots, hidden)


def template_violations(source: str, slots: Sequence[str]) -> list[str]:
    """Why a template's output is not its slotted render with the slots filled in; empty when
    every use of a slot path is ``{{ path }}`` or ``{% if path %}``."""
    tree = environment().parse(source)
    as_tuples = [tuple(s.split(".")) for s in slots]
    hidden = [tuple(h.split(".")) for h in HIDDEN_PATHS]
    return list(_walk(tree, None, None, as_tuples, hidden))


@cache
def slottable(kind: str, language: str, slots: tuple[str, ...]) -> bool:
    """Whether every template of ``kind`` in ``language`` passes :func:`template_violations`."""
    env = environment()
    _, *compiled = templates(kind, language)
    assert env.loader is not None
    for template in compiled:
        if template is None:
            continue
        assert template.name is not None
        source, _, _ = env.loader.get_source(env, template.name)
        if "\x00" in source or template_violations(source, slots):
            return False
    return True


# --- grouping and filling ----------------------------------------------------------------------

_MISSING = object()
#: What markupsafe's escape replaces; most values (ids, links, plain names) hold none of it.
_HTML_SPECIAL = re.compile("[&<>\"']")


def _escaped(value: str) -> str:
    return str(escape(value)) if _HTML_SPECIAL.search(value) else value


def _get(context: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = context
    for part in path:
        if isinstance(value, dict):  # the usual case, without the ABC check's cost
            if part not in value:
                return _MISSING
        elif not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _with(
    context: Mapping[str, Any], changes: Sequence[tuple[Sequence[str], Any]]
) -> dict[str, Any]:
    """A copy of ``context`` with each path set to its value, copying only the dicts on the
    paths (once per path prefix, so a dict reachable by two paths is changed on one only)."""
    copy = dict(context)
    copied: dict[tuple[str, ...], dict[str, Any]] = {(): copy}
    for path, value in changes:
        node = copy
        for depth in range(1, len(path)):
            prefix = tuple(path[:depth])
            if prefix not in copied:
                copied[prefix] = dict(node[path[depth - 1]])
                node[path[depth - 1]] = copied[prefix]
            node = copied[prefix]
        node[path[-1]] = value
    return copy


def _parts(text: str) -> list[str | int]:
    """``"a<slot 3>b"`` as ``["a", 3, "b"]``: literal text at even places, slot numbers between."""
    pieces = _SENTINEL.split(text)
    return [int(p) if i % 2 else p for i, p in enumerate(pieces)]


@dataclass(frozen=True)
class _Part:
    """One template's slotted output, and whether Jinja escaped the values it printed."""

    parts: list[str | int]
    escaped: bool

    def fill(self, values: Sequence[str], escaped: Sequence[str]) -> str:
        chosen = escaped if self.escaped else values
        return "".join([chosen[p] if isinstance(p, int) else p for p in self.parts])

    @cached_property
    def plan(self) -> BodyPlan:
        """This output as an e-mail body, its lines without slots encoded once."""
        slotted = "".join(_slot(p) if isinstance(p, int) else p for p in self.parts)
        lines = slotted.encode("utf-8").splitlines()
        return BodyPlan.of([_parts(line.decode("utf-8")) for line in lines])

    def encode(self, values: Sequence[str], escaped: Sequence[str]) -> str | None:
        return self.plan.encode(escaped if self.escaped else values)


@dataclass(frozen=True)
class _Group:
    language: str
    subject: _Part
    text: _Part
    html: _Part | None

    @cached_property
    def escapes(self) -> bool:
        return any(p is not None and p.escaped for p in (self.subject, self.text, self.html))


@dataclass(frozen=True)
class Filled:
    """One notice of a group: the group's output and this notice's values for its slots."""

    group: _Group
    values: list[str]
    escaped: list[str]

    @property
    def language(self) -> str:
        return self.group.language

    @cached_property
    def subject(self) -> str:
        return " ".join(self.group.subject.fill(self.values, self.escaped).split())

    def rendered(self) -> Rendered:
        g, values, escaped = self.group, self.values, self.escaped
        return Rendered(
            g.language,
            self.subject,
            g.text.fill(values, escaped),
            g.html.fill(values, escaped) if g.html is not None else None,
        )

    def bodies(self) -> tuple[str, str | None] | None:
        """The text and HTML bodies quoted-printable encoded, as ``build_email`` encodes the
        rendered ones; None when a value holds a line break (then encode the rendered text)."""
        g, values, escaped = self.group, self.values, self.escaped
        text = g.text.encode(values, escaped)
        html = g.html.encode(values, escaped) if g.html is not None else None
        if text is None or (g.html is not None and html is None):
            return None
        return text, html


def _slotted(template: Template, context: dict[str, Any]) -> _Part:
    env = template.environment
    assert template.name is not None
    escaped = env.autoescape(template.name) if callable(env.autoescape) else env.autoescape
    return _Part(_parts(template.render(context)), bool(escaped))


class SlotRenderer:
    """Renders many notices, each group of identical ones once; one instance per fan-out (its
    groups live as long as it does). Call it as :func:`render.render` is called."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str, str], _Group | None] = {}

    @property
    def groups(self) -> int:
        """How many groups were rendered (each one full Jinja render)."""
        return len(self._groups)

    def __call__(self, kind: str, language: str, context: dict[str, Any]) -> Rendered:
        filled = self.fill(kind, language, context)
        rendered = filled.rendered() if filled is not None else render(kind, language, context)
        if VERIFY:
            direct = render(kind, language, context)
            assert rendered == direct, f"grouped render of {kind} differs:\n{rendered}\n{direct}"
        return rendered

    def fill(
        self, kind: str, language: str, context: dict[str, Any], *, facts_text: str | None = None
    ) -> Filled | None:
        """This notice as its group's output and its own values; None when it has no group
        (its kind fails the proof, or a value imitates a slot): render it directly.

        ``facts_text``: the canonical JSON of ``context["facts"]``, when the caller has it;
        the group key is then made from it rather than from the facts' ``repr`` (see
        :meth:`_key`)."""
        slots = slot_paths(kind)
        if not slottable(kind, language, slots):
            return None
        values: list[str] = []
        changes: list[tuple[Sequence[str], Any]] = []
        in_facts: list[tuple[int, str]] = []
        for number, path in enumerate(_split(slots)):
            value = _get(context, path)
            if isinstance(value, str) and value:  # empty or absent values stay in the group key
                changes.append((path, _slot(number)))
                values.append(value)
                if path[0] == "facts":
                    in_facts.append((number, value))
            else:
                values.append("")
        changes.extend((path, None) for path in _HIDDEN if _get(context, path) is not _MISSING)
        slotted = _with(context, changes)
        if VERIFY and facts_text is not None:
            assert json.loads(facts_text) == context["facts"], "facts_text is not the facts"
        key = self._key(kind, language, slotted, facts_text, in_facts)
        group = self._groups.get(key, _MISSING)
        if group is _MISSING:
            used = sum(1 for v in values if v)
            group = self._groups[key] = self._group(kind, language, slotted, repr(slotted), used)
        if group is None:
            return None
        assert isinstance(group, _Group)
        escaped = [_escaped(v) for v in values] if group.escapes else values
        return Filled(group, values, escaped)

    @staticmethod
    def _key(
        kind: str,
        language: str,
        slotted: dict[str, Any],
        facts_text: str | None,
        in_facts: Sequence[tuple[int, str]],
    ) -> tuple[str, ...]:
        """What two notices of one group share: their slotted context, as its ``repr``.

        The facts are most of that ``repr`` (18 µs a notice). Given their canonical text, each
        slotted fact's JSON string is replaced in it instead, by a mark with a raw NUL (which
        JSON text never holds), when it occurs exactly once: then that occurrence is the one
        at the slot's path, and two texts masked alike are facts alike but for those values.
        Otherwise (a value that occurs twice), the ``repr`` of everything."""
        if facts_text is not None and "facts" in slotted:
            masked = facts_text
            for number, value in in_facts:
                quoted = json.dumps(value, ensure_ascii=False)
                if masked.count(quoted) != 1:
                    break
                masked = masked.replace(quoted, f"\x00{number}\x00")
            else:
                rest = {name: part for name, part in slotted.items() if name != "facts"}
                return (kind, language, repr(rest), masked)
        return (kind, language, repr(slotted))

    @staticmethod
    def _group(
        kind: str, language: str, slotted: dict[str, Any], key: str, used: int
    ) -> _Group | None:
        if key.count(_NONCE) != used:  # a value imitates a slot: no grouping
            return None
        resolved, subject, text, html = templates(kind, language)
        group = _Group(
            resolved,
            _slotted(subject, slotted),
            _slotted(text, slotted),
            _slotted(html, slotted) if html is not None else None,
        )
        parts = (group.subject, group.text, *([group.html] if group.html else []))
        if any(
            _NONCE in p or "\x00" in p for part in parts for p in part.parts if isinstance(p, str)
        ):
            return None  # a sentinel the proof missed came out changed: render one by one
        return group
