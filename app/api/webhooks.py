"""``/api/webhooks``: where alerts are sent (admin), each hook's delivery status and the dead letters."""

from __future__ import annotations

from flask import Response, current_app, jsonify, request

from app import actions
from app.api import bp, store
from app.api.errors import ApiError
from app.api.rules import rule_book
from app.auth import ADMIN, current_user, require
from app.webhooks import MAX_HOOKS, Webhooks, origin, parse_hook

DEAD_LETTERS_SHOWN = 20


def webhooks() -> Webhooks:
    """The app's webhooks (set by ``create_app``)."""
    hooks: Webhooks = current_app.extensions["smartcity.webhooks"]
    return hooks


@bp.post("/webhooks")
@require(*ADMIN)
def create_webhook() -> tuple[Response, int]:
    try:
        hook = parse_hook(request.get_json(silent=True))
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    if "rules" in hook:  # a hook for rules that do not exist would wait for alerts that never come
        known = rule_book().load().rules
        unknown = [r for r in hook["rules"] if r not in known]
        if unknown:
            raise ApiError(400, f"no rule {', '.join(map(repr, unknown))[:200]} (GET /api/rules lists them)")
    user = current_user() or "unknown"
    hook_id = webhooks().add(hook, user)
    if hook_id is None:
        raise ApiError(409, f"there are {MAX_HOOKS} webhooks already: delete one first")
    rules = {"rules": ",".join(hook["rules"])} if "rules" in hook else {}
    actions.audit(store(), "webhook_create", user, webhook=hook_id, url=origin(hook["url"]),
                  min_severity=hook["min_severity"], **rules)  # fmt: skip
    return jsonify(id=hook_id), 201


@bp.get("/webhooks")
@require(*ADMIN)
def list_webhooks() -> Response:
    hooks = webhooks()
    return jsonify(webhooks=hooks.listing(), dead_letters=hooks.dead_letters(DEAD_LETTERS_SHOWN))


@bp.delete("/webhooks/<id:hook_id>")
@require(*ADMIN)
def delete_webhook(hook_id: str) -> tuple[str, int]:
    gone = webhooks().delete(hook_id)
    if gone is None:
        raise ApiError(404, f"no webhook {hook_id!r}")
    actions.audit(store(), "webhook_delete", current_user() or "unknown", webhook=hook_id, url=origin(gone["url"]))
    return "", 204
