"""Camera-side authentication: HTTP Digest (RFC 7616) and WS-Security UsernameToken, as real cameras do it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from camsim import soap
from camsim.model import Camera

log = logging.getLogger(__name__)

# Server nonces are stateless: "<issue time hex>:<hmac>" signed with a per-process secret, so 1,000
# cameras need no nonce table. A nonce older than this is answered with stale=true (RFC 7616 §3.3).
NONCE_TTL_S = 300.0
_SECRET = os.urandom(16)
# WS-Security nonces remembered per camera for replay detection. Bounded because 1,000 cameras share one
# process (and --state persists them); a replay must also pass the freshness window, which limits the gap.
MAX_SEEN_NONCES = 128

_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
_PARAM_RE = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class AuthOutcome:
    username: str | None  # authenticated user, None when not authenticated
    response: web.Response | None  # the challenge/refusal to send (401 digest challenge, lockout, ...)


def client_ip(request: web.Request) -> str:
    return request.remote or ""


# ---- HTTP Digest ---------------------------------------------------------------------------------
def _make_nonce(camera: Camera, issued: float | None = None) -> str:
    ts = f"{int((issued if issued is not None else time.time()) * 1000):x}"
    mac = hmac.new(_SECRET, f"{ts}:{camera.id}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{ts}{mac}"


def _nonce_state(camera: Camera, nonce: str) -> str:
    """'fresh', 'stale' or 'bad' (not ours / forged)."""
    ts, mac = nonce[:-32], nonce[-32:]
    if not ts:
        return "bad"
    good = hmac.new(_SECRET, f"{ts}:{camera.id}".encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(mac, good):
        return "bad"
    try:
        issued = int(ts, 16) / 1000
    except ValueError:
        return "bad"
    return "fresh" if time.time() - issued <= NONCE_TTL_S else "stale"


def digest_challenge(camera: Camera, *, stale: bool = False, status: int = 401) -> web.Response:
    """401 with one challenge per algorithm. MD5 first: most camera firmwares only ever offered MD5,
    and clients that only read the first header (aiohttp's DigestAuthMiddleware) get the common case."""
    nonce = _make_nonce(camera)
    realm = camera.auth.realm.replace('"', "")
    challenges = [
        f'Digest realm="{realm}", qop="auth", algorithm={alg}, nonce="{nonce}"'
        + (", stale=true" if stale else "")
        for alg in ("MD5", "SHA-256")
    ]
    resp = web.Response(status=status, text="Unauthorized", content_type="text/plain")
    for c in challenges:
        resp.headers.add("WWW-Authenticate", c)
    return resp


def parse_digest_header(value: str) -> dict[str, str] | None:
    scheme, _, rest = value.partition(" ")
    if scheme.lower() != "digest":
        return None
    out: dict[str, str] = {}
    for m in _PARAM_RE.finditer(rest):
        out[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    return out


def _digest_expected(params: dict[str, str], password: str, method: str) -> str | None:
    algorithm = params.get("algorithm", "MD5").upper()
    h = _HASHES.get(algorithm)
    if h is None:
        return None

    def hx(s: str) -> str:
        return h(s.encode()).hexdigest()

    ha1 = hx(f"{params.get('username', '')}:{params.get('realm', '')}:{password}")
    ha2 = hx(f"{method}:{params.get('uri', '')}")
    qop = params.get("qop")
    if qop == "auth":
        return hx(
            f"{ha1}:{params.get('nonce', '')}:{params.get('nc', '')}:{params.get('cnonce', '')}:auth:{ha2}"
        )
    if qop is None:  # RFC 2069 compatibility; old cameras accept it
        return hx(f"{ha1}:{params.get('nonce', '')}:{ha2}")
    return None


def check_http_digest(camera: Camera, request: web.Request, *, web: bool = False) -> AuthOutcome:
    """Validate the Authorization header; on anything short of success return the reply to send.
    `web`: a vendor API request, checked against the camera's web accounts."""
    ip = client_ip(request)
    if camera.is_locked(ip):
        # Locked clients are refused without looking at the credentials (Hikvision illegal-login lock).
        return AuthOutcome(None, digest_challenge(camera))
    header = request.headers.get("Authorization")
    params = parse_digest_header(header) if header else None
    if params is None or "response" not in params or "nonce" not in params:
        return AuthOutcome(None, digest_challenge(camera))  # missing credentials: not a failure
    if params.get("realm") != camera.auth.realm:
        return AuthOutcome(None, digest_challenge(camera))
    state = _nonce_state(camera, params["nonce"])
    if state == "bad" or params.get("uri") not in (request.path_qs, request.path, str(request.url)):
        # Not our nonce, or credentials computed for another resource (RFC 7616 §3.4.6): no count.
        return AuthOutcome(None, digest_challenge(camera))
    username = params.get("username", "")
    password = camera.check_password(username, web=web)
    expected = _digest_expected(params, password, request.method) if password is not None else None
    if expected is None or not hmac.compare_digest(expected, params["response"].lower()):
        camera.note_auth_failure(ip)
        log.info("camera %s: digest auth failed for user %r from %s", camera.id, username, ip)
        return AuthOutcome(None, digest_challenge(camera))
    if state == "stale":
        # Right password, old nonce: RFC 7616 says tell the client to retry with a new nonce.
        return AuthOutcome(None, digest_challenge(camera, stale=True))
    camera.note_auth_success(ip)
    return AuthOutcome(username, None)


# ---- WS-Security UsernameToken -------------------------------------------------------------------
def _parse_created(text: str) -> float | None:
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def wsse_digest(nonce_raw: bytes, created: str, password: str) -> str:
    """PasswordDigest = Base64(SHA-1(nonce + Created + password)) (WSS UsernameToken Profile 1.0)."""
    return base64.b64encode(hashlib.sha1(nonce_raw + created.encode() + password.encode()).digest()).decode()


def check_wsse(camera: Camera, token: soap.UsernameToken, ip: str) -> str:
    """Return the authenticated username; raise SoapError(NotAuthorized) otherwise."""
    if not token.nonce_b64 or not token.created:
        # ONVIF Core: "The server shall reject any Username Token not using both" nonce and timestamp.
        raise soap.not_authorized("UsernameToken without Nonce and Created")
    created_at = _parse_created(token.created)
    if created_at is None:
        raise soap.not_authorized("Bad Created timestamp")
    # Freshness is judged against the camera's own (possibly skewed) clock: that is what breaks
    # clients that do not correct for the offset learned from GetSystemDateAndTime.
    if abs(created_at - camera.now()) > camera.auth.freshness_s:
        raise soap.not_authorized("Created timestamp outside the freshness window")
    try:
        nonce_raw = base64.b64decode(token.nonce_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise soap.not_authorized("Bad Nonce encoding") from exc
    if token.nonce_b64 in camera.seen_nonces:
        raise soap.not_authorized("Nonce replayed")
    password = camera.check_password(token.username)
    ok = False
    if password is not None:
        if token.password_type.endswith("#PasswordText"):
            ok = hmac.compare_digest(token.password.encode(), password.encode())
        else:
            expected = wsse_digest(nonce_raw, token.created, password)
            ok = hmac.compare_digest(expected.encode(), token.password.strip().encode())
    if not ok:
        camera.note_auth_failure(ip)
        log.info("camera %s: UsernameToken auth failed for user %r from %s", camera.id, token.username, ip)
        raise soap.not_authorized()
    camera.seen_nonces.append(token.nonce_b64)
    if len(camera.seen_nonces) > MAX_SEEN_NONCES:
        del camera.seen_nonces[: len(camera.seen_nonces) - MAX_SEEN_NONCES]
    camera.note_auth_success(ip)
    return token.username


def check_onvif(
    camera: Camera, request: web.Request, req: soap.SoapRequest, env: soap.Envelope
) -> AuthOutcome:
    """Authenticate one ONVIF request per ONVIF Core §5.9: HTTP credentials are validated first;
    a UsernameToken-only device answers 400 + env:Sender/ter:NotAuthorized when nothing is sent."""
    ip = client_ip(request)
    modes = camera.auth.modes
    http_ok = "digest" in modes
    ws_ok = "wsse" in modes
    if camera.is_locked(ip):
        if http_ok and (request.headers.get("Authorization") or not ws_ok or req.token is None):
            return AuthOutcome(None, digest_challenge(camera))
        return AuthOutcome(None, soap.fault_response(env, soap.not_authorized("Client locked")))
    if http_ok and request.headers.get("Authorization"):
        return check_http_digest(camera, request)
    if ws_ok and req.token is not None:
        try:
            return AuthOutcome(check_wsse(camera, req.token, ip), None)
        except soap.SoapError as err:
            return AuthOutcome(None, soap.fault_response(env, err))
    if http_ok:
        # No usable credentials (or a UsernameToken a digest-only camera ignores): challenge.
        return AuthOutcome(None, digest_challenge(camera))
    return AuthOutcome(None, soap.fault_response(env, soap.not_authorized()))
