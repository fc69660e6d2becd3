"""RFC 9457 problem details: every refusal names its field and the rule it broke.

Services raise ``Problem`` subclasses; the app turns them, and Litestar's own exceptions, into
``application/problem+json`` with a stable ``type`` so clients can branch on it.
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://gdpr-vault.dev/problems/"


class Problem(Exception):
    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        rule: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.rule = rule
        self.extra = extra or {}

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.field:
            body["field"] = self.field
        if self.rule:
            body["rule"] = self.rule
        body.update(self.extra)
        return body


class ValidationProblem(Problem):
    status = 422
    slug = "validation-error"
    title = "The request breaks a rule"


class MalformedRequest(Problem):
    status = 400
    slug = "malformed-request"
    title = "The request could not be read"


class Unauthenticated(Problem):
    status = 401
    slug = "unauthenticated"
    title = "A valid bearer token is required"


class Forbidden(Problem):
    status = 403
    slug = "forbidden"
    title = "This token may not do that"


class NotFound(Problem):
    status = 404
    slug = "not-found"
    title = "No such resource"


class Conflict(Problem):
    status = 409
    slug = "conflict"
    title = "The resource is not in a state that allows this"


class PayloadTooLarge(Problem):
    status = 413
    slug = "payload-too-large"
    title = "The request body is too large"
