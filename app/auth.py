"""Who may do what: console logins (session) and API bearer tokens, with roles.

Roles: ``viewer`` reads, ``operator`` also acts on incidents, ``admin`` also reads the
audit log, ``ingest`` may only post events. Tokens come from ``SMARTCITY_API_TOKENS``
(``role:token,...``), users from ``SMARTCITY_USERS`` (``name:role:password,...``). With
neither set, the demo generates credentials and prints a one-click login URL; the production
server refuses to start (``app/gunicorn_conf.py``).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from flask import Blueprint, Flask, Response, current_app, redirect, request, session
from werkzeug.security import check_password_hash, generate_password_hash

from app.api.errors import ApiError
from pipeline.exceptions import ConfigError
from pipeline.settings import Settings

ROLES = ("viewer", "operator", "admin", "ingest")
READ = ("viewer", "operator", "admin")
ACT = ("operator", "admin")
ADMIN = ("admin",)
INGEST = ("ingest", "admin")

F = TypeVar("F", bound=Callable[..., Any])
bp = Blueprint("auth", __name__)
# paths a browser may fetch before logging in (static code, no city data)
_PUBLIC_PREFIXES = (
    "/login", "/assets/", "/_dash-component-suites/", "/_favicon",
    "/api/", "/metrics", "/ws/", "/openapi.json", "/docs", "/gtfs-rt/",
)  # fmt: skip


@dataclass
class Credentials:
    tokens: dict[str, str] = field(default_factory=dict)  # token -> role
    users: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (role, password hash)
    generated: dict[str, str] = field(default_factory=dict)  # what was generated, to print once

    @classmethod
    def from_settings(cls, settings: Settings) -> Credentials:
        creds = cls()
        for item in _items(settings.secret("api_tokens")):
            role, _, token = item.partition(":")
            if role not in ROLES or not token:
                raise ConfigError(f"SMARTCITY_API_TOKENS: expected role:token with role in {ROLES}")
            creds.tokens[token] = role
        for item in _items(settings.secret("users")):
            name, role, password = [*item.split(":", 2), "", ""][:3]
            if not name or role not in READ or not password:
                raise ConfigError(f"SMARTCITY_USERS: expected name:role:password with role in {READ}")
            creds.users[name] = (role, generate_password_hash(password))
        if not creds.tokens and not creds.users:
            for role in ROLES:
                token = secrets.token_urlsafe(24)
                creds.tokens[token] = role
                creds.generated[f"{role}_token"] = token
            password = secrets.token_urlsafe(12)
            creds.users["admin"] = ("admin", generate_password_hash(password))
            creds.generated["admin_password"] = password
        return creds

    def token_role(self, token: str | None) -> str | None:
        """The role of ``token``; None for no token, an unknown one, or any text at all a client sent."""
        if not token:
            return None
        sent = _utf8(token)
        for known, role in self.tokens.items():
            if hmac.compare_digest(_utf8(known), sent):
                return role
        return None

    def login(self, name: str, password: str) -> str | None:
        entry = self.users.get(name)
        if entry and check_password_hash(entry[1], password):
            return entry[0]
        return None

    def login_url(self, base: str) -> str | None:
        """A one-click console login for the generated admin (None when not generated)."""
        token = self.generated.get("admin_token")
        return f"{base}/login?token={quote(token)}" if token else None


def _utf8(text: str) -> bytes:
    # compare_digest refuses str with non-ASCII characters (TypeError: a 500), so compare bytes;
    # surrogatepass: a lone surrogate (from a lossily decoded request) is bytes too, not an error
    return text.encode("utf-8", "surrogatepass")


def _items(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def _creds() -> Credentials:
    creds: Credentials = current_app.extensions["smartcity.credentials"]
    return creds


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.args.get("token")


def current_role() -> str | None:
    """The role of whoever makes this request: bearer token first, then the console session."""
    role = _creds().token_role(_bearer())
    return role or session.get("role")


def by_session() -> bool:
    """Whether the console's session cookie, not a bearer token, authenticates this request."""
    return _creds().token_role(_bearer()) is None and session.get("role") is not None


def same_origin() -> bool:
    """Whether the request says it was sent by a page of this site: its ``Origin`` (or, with
    none, its ``Referer``) names the host it was sent to.

    A page on another port of 127.0.0.1 is "same-site", so the browser sends it the session
    cookie despite SameSite=Lax; only the origin tells the console's own pages from it.
    """
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source:
        return False
    parts = urlsplit(source)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null" (sandboxed pages, redirects across sites) and the like
    return _host_port(parts.netloc, parts.scheme) == _host_port(request.host, parts.scheme)


def _host_port(netloc: str, scheme: str) -> str:
    netloc = netloc.rpartition("@")[2].lower()
    default = ":443" if scheme == "https" else ":80"
    return netloc.removesuffix(default)


def current_user() -> str | None:
    if _creds().token_role(_bearer()):
        return "token:" + (_creds().token_role(_bearer()) or "")
    name = session.get("user")
    return str(name) if name else None


def require(*roles: str) -> Callable[[F], F]:
    """Refuse the request with 401 (nobody) or 403 (wrong role) unless the role is in ``roles``."""

    def decorate(fn: F) -> F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            role = current_role()
            if role is None:
                raise ApiError(401, "authentication required: send Authorization: Bearer <token>")
            if role not in roles:
                raise ApiError(403, f"role {role!r} may not do this; needs one of {', '.join(roles)}")
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


_LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Smart City — sign in</title>
<link rel="stylesheet" href="/assets/bootstrap.min.css"></head>
<body class="bg-light"><main class="container" style="max-width:420px;margin-top:12vh">
<h1 class="h4 mb-3">Smart City operations</h1>{error}
<form method="post" action="/login"><input type="hidden" name="next" value="{next}">
<div class="mb-3"><label class="form-label" for="user">User</label>
<input class="form-control" id="user" name="user" autocomplete="username" required></div>
<div class="mb-3"><label class="form-label" for="password">Password</label>
<input class="form-control" id="password" name="password" type="password" autocomplete="current-password" required>
</div><button class="btn btn-primary w-100" type="submit">Sign in</button></form></main></body></html>"""


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else ``/``.

    Browsers read ``/\\host`` like ``//host`` (another site) and drop tabs and newlines from
    URLs, so only a plain absolute path with no scheme, host or backslash is kept.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if any(c == "\\" or c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    creds = _creds()
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET" and "token" in request.args:
        role = creds.token_role(request.args["token"])
        if role in READ:  # the one-click URL: a console token becomes a session
            session.clear()
            session.update(user=role, role=role)
            return redirect(next_url)  # type: ignore[return-value]
    if request.method == "GET" and session.get("role") in READ:  # already signed in: no form to fill
        return redirect(next_url)  # type: ignore[return-value]
    error = ""
    status = 200
    if request.method == "POST":
        if "user" not in request.form or "password" not in request.form:  # not the form's own request
            error, status = '<div class="alert alert-danger">Send a user and a password.</div>', 400
        elif role := creds.login(request.form["user"], request.form["password"]):
            session.clear()
            session.update(user=request.form["user"], role=role)
            return redirect(next_url)  # type: ignore[return-value]
        else:
            error = '<div class="alert alert-danger">Unknown user or wrong password.</div>'
    page = _LOGIN_PAGE.format(error=error, next=next_url.replace('"', "&quot;").replace("<", "&lt;"))
    return Response(page, status, mimetype="text/html")


@bp.get("/logout")
def logout() -> Response:
    session.clear()
    return redirect("/login")  # type: ignore[return-value]


def init_auth(app: Flask, settings: Settings) -> Credentials:
    """Attach credentials and the console login guard to ``app``."""
    creds = Credentials.from_settings(settings)
    app.extensions["smartcity.credentials"] = creds
    app.secret_key = settings.secret("secret_key") or secrets.token_hex(32)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    app.register_blueprint(bp)

    @app.before_request
    def _session_writes_come_from_our_pages() -> None:
        # a bearer token is not sent by browsers on their own; the session cookie is
        if request.method in ("GET", "HEAD", "OPTIONS") or request.path == "/login":
            return
        if by_session() and not same_origin():
            raise ApiError(403, "cross-site request refused: the Origin header must name this server")

    @app.before_request
    def _console_needs_login() -> Response | None:
        path = request.path
        if path.startswith(_PUBLIC_PREFIXES) or session.get("role"):
            return None
        if request.routing_exception is not None:  # no page here (404), or not for this method (405)
            return None
        if path.startswith("/_dash-"):  # Dash's data requests: answer, don't redirect
            return Response('{"error": {"status": 401, "message": "login required"}}', 401, mimetype="application/json")
        return redirect(f"/login?next={quote(path)}")  # type: ignore[return-value]

    return creds
