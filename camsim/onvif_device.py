"""ONVIF Device service endpoint: parse, authenticate, dispatch to the operation handlers, reply.

Writes are counted with camera.record_write under these setting names: dns, ntp, gateway, hostname,
datetime, scopes, zero_configuration, discovery_mode, dyndns, ip_filter, protocol.<http|https|rtsp>,
user.<username>; reboot and factory default are counted by the model itself.
"""

from __future__ import annotations

import logging

from aiohttp import web

from camsim import auth, onvif_info, onvif_media, onvif_network, onvif_users, soap
from camsim.keys import CREDENTIALS_SENT
from camsim.model import Camera
from camsim.onvif_common import Ctx, Handler

log = logging.getLogger(__name__)

HANDLERS: dict[str, Handler] = {**onvif_info.HANDLERS, **onvif_network.HANDLERS, **onvif_users.HANDLERS}

# ONVIF Core access class PRE_AUTH: a client must be able to call these before it has credentials
# (and GetSystemDateAndTime is how it learns the clock offset needed for a UsernameToken).
PRE_AUTH = frozenset({"GetSystemDateAndTime", "GetCapabilities", "GetServices", "GetServiceCapabilities"})


def envelope_style(camera: Camera) -> soap.EnvelopeStyle:
    """Hikvision-made cameras (OEM rebrands included) keep Hikvision's SOAP server and namespaces."""
    p = camera.identity.personality
    if p == "hikvision":
        return "hikvision"
    return "gsoap-axis" if p == "axis" else "gsoap"


async def handle(camera: Camera, request: web.Request) -> web.Response:
    """Serve one POST to the device service of `camera`."""
    style = envelope_style(camera)
    data = await request.read()
    try:
        req = soap.parse_request(data)
    except soap.SoapError as err:
        return soap.fault_response(soap.envelope(style, camera.soap_reply_version or "1.2"), err)
    # Older firmware answers SOAP 1.1 whatever the request spoke (DESIGN §4).
    env = soap.envelope(style, camera.soap_reply_version or req.version)
    if req.has_security_header:
        request[CREDENTIALS_SENT] = True
    if req.operation not in PRE_AUTH or req.namespace != soap.TDS or not camera.preauth_open:
        outcome = auth.check_onvif(camera, request, req, env)
        if outcome.response is not None:
            return outcome.response
    if camera.onvif_ops is not None and req.operation not in camera.onvif_ops:
        # A minimal implementation: whatever it does not implement faults, Set* operations included.
        return soap.fault_response(env, soap.action_not_supported("Method not implemented"))
    if req.namespace == soap.TDS:
        handler = HANDLERS.get(req.operation)
    else:
        handler = onvif_media.HANDLERS.get((req.namespace or "", req.operation))
    if handler is None:
        # Optional/unknown operation: Core says a service "should" answer env:Receiver/ter:ActionNotSupported.
        return soap.fault_response(env, soap.action_not_supported())
    ctx = Ctx(camera, request, req, style)
    try:
        body = handler(ctx)
    except soap.SoapError as err:
        log.debug("camera %s: %s -> fault %s", camera.id, req.operation, err.subcodes)
        return soap.fault_response(env, err)
    # Reboot/factory reset: the camera state flips now, but the server only checks "down" when a request
    # arrives and closes the listener in a separate task, so this reply still goes out first. Doing it
    # synchronously lets SimServer see the changed down_until and schedule the downtime.
    for fn in ctx.after:
        fn()
    return soap.reply(env, body)
