"""Device API v1: the routes the Multipas box calls (the contract is
``static/openapi/device_api_v1.json``, built by ``device_api_schema``).

Each route checks its input completely before it writes anything, then calls
one model method. Errors are raised as ``DeviceApiError`` so that Odoo rolls
the transaction back: an error answer never leaves a partial write.
Authentication is ``auth="multipas_device"`` (``models/ir_http.py``).
"""

import datetime

from odoo import http
from odoo.http import request

from .device_api_schema import (
    ALLOWLIST_MAX_LIMIT,
    API_PREFIX,
    MAX_BODY_BYTES,
    MAX_CURSOR,
    MAX_EVENTS,
    UID_RE,
    DeviceApiError,
    Validator,
    bad_request,
    dump_document,
    format_timestamp,
    openapi_document,
    parse_json,
    parse_timestamp,
)

DEVICE_ROUTE = {
    "type": "http",
    "auth": "multipas_device",
    "csrf": False,
    "save_session": False,
    "max_content_length": MAX_BODY_BYTES,
}


def _translate(*args, **kwargs):
    return request.env._(*args, **kwargs)


def _device():
    return request.env["multipas.device"].browse(request.env.context["multipas_device_id"])


def _event_kinds():
    return request.env["multipas.device.event"].sudo()._get_event_kinds()


def _document():
    return openapi_document(_event_kinds())


def _respond(data, status=200):
    return request.make_json_response(data, headers=[("Cache-Control", "no-store")], status=status)


def _query(allowed):
    """The query parameters, refusing unknown or repeated ones."""
    args = request.httprequest.args
    for name in args:
        if name not in allowed:
            raise bad_request(_translate("Unknown query parameter: %(name)s", name=name))
        if len(args.getlist(name)) > 1:
            raise bad_request(_translate("Query parameter %(name)s is repeated.", name=name))
    return {name: args[name] for name in args}


def _int_param(params, name, minimum, maximum, default):
    raw = params.get(name)
    if raw is None:
        return default
    if (
        not raw.isascii()
        or not raw.isdigit()
        or len(raw) > 19
        or not minimum <= int(raw) <= maximum
    ):
        raise bad_request(
            _translate(
                "%(name)s must be a whole number from %(min)s to %(max)s.",
                name=name,
                min=minimum,
                max=maximum,
            )
        )
    return int(raw)


def _json_body(schema_name):
    """The request body, decoded and validated against ``schema_name``."""
    _query(())
    httprequest = request.httprequest
    if httprequest.mimetype != "application/json":
        raise bad_request(_translate("Send the body as Content-Type: application/json."))
    too_large = DeviceApiError(413, "too_large", _translate("The body is larger than 1 MiB."))
    # The route's max_content_length makes werkzeug refuse a longer body as
    # well (413, turned into JSON by ir.http); a body without a length
    # (chunked) reads as empty and is refused as not JSON.
    if (httprequest.content_length or 0) > MAX_BODY_BYTES:
        raise too_large
    raw = httprequest.get_data(cache=False)
    if len(raw) > MAX_BODY_BYTES:
        raise too_large
    body = parse_json(raw, _translate)
    if schema_name == "EventBatch" and isinstance(body, dict):
        events = body.get("events")
        if isinstance(events, list) and len(events) > MAX_EVENTS:
            raise DeviceApiError(
                413,
                "too_large",
                _translate("A batch holds at most %(max)s events.", max=MAX_EVENTS),
            )
    components = openapi_document(_event_kinds())["components"]
    Validator(components, _translate).validate(body, schema_name)
    return body


class DeviceApi(http.Controller):
    @http.route(f"{API_PREFIX}/heartbeat", methods=["POST"], **DEVICE_ROUTE)
    def heartbeat(self, **kwargs):
        body = _json_body("HeartbeatRequest")
        result = _device()._api_heartbeat(body)
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        return _respond(dict(result, server_time=format_timestamp(now)))

    @http.route(f"{API_PREFIX}/allowlist", methods=["GET"], readonly=True, **DEVICE_ROUTE)
    def allowlist(self, **kwargs):
        params = _query(("since", "limit"))
        since = _int_param(params, "since", 0, MAX_CURSOR, 0)
        limit = _int_param(params, "limit", 1, ALLOWLIST_MAX_LIMIT, ALLOWLIST_MAX_LIMIT)
        return _respond(_device()._api_allowlist(since, limit))

    @http.route(f"{API_PREFIX}/cards/<string:uid>", methods=["GET"], readonly=True, **DEVICE_ROUTE)
    def card(self, uid, **kwargs):
        _query(())
        if not UID_RE.match(uid):
            raise bad_request(_translate("uid: not a card UID (4 to 10 bytes in hexadecimal)"))
        result = _device()._api_card(uid.upper())
        if result is None:
            raise DeviceApiError(
                404,
                "not_found",
                _translate("No card in use with UID %(uid)s at this school.", uid=uid.upper()),
            )
        return _respond(result)

    @http.route(f"{API_PREFIX}/events", methods=["POST"], **DEVICE_ROUTE)
    def events(self, **kwargs):
        body = _json_body("EventBatch")
        events = [
            {
                "uuid": event["uuid"].lower(),
                "kind": event["kind"],
                "uid": event["uid"].upper(),
                "at": parse_timestamp(event["at"]),
                "reader": event.get("reader"),
                "data": event.get("data") or {},
            }
            for event in body["events"]
        ]
        device = _device()
        results = request.env["multipas.device.event"]._api_ingest(
            device, body["batch_id"].lower(), events
        )
        if results is None:
            raise DeviceApiError(
                409,
                "replayed_batch",
                _translate(
                    "Batch %(batch)s was already accepted: nothing was stored again.",
                    batch=body["batch_id"].lower(),
                ),
            )
        return _respond({"results": [{"uuid": u, "status": s} for u, s in results]})

    @http.route(
        f"{API_PREFIX}/openapi.json",
        type="http",
        auth="public",
        methods=["GET"],
        csrf=False,
        save_session=False,
        readonly=True,
    )
    def openapi(self, **kwargs):
        return request.make_response(
            dump_document(_document()),
            headers=[("Content-Type", "application/json; charset=utf-8")],
        )
