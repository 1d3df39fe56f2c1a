"""Device API v1: the OpenAPI document, request validation and error answers.

The OpenAPI 3 document built here is the contract: the routes validate every
request body against its own schemas (``validate``), the tests and the fuzzer
read the same document, and ``static/openapi/device_api_v1.json`` is this
document for the event kinds of ``multipas_cards`` alone. Event kinds added by
other addons (``multipas.device.event._get_event_kinds``) appear in the
document served at ``/multipas/device/v1/openapi.json``.

Only the part of JSON Schema the document uses is implemented: ``$ref`` to
components, ``type``, ``nullable``, ``enum``, ``properties``, ``required``,
``additionalProperties: false``, ``items``, ``minItems``/``maxItems``,
``minLength``/``maxLength``, ``pattern``, ``minimum``/``maximum``, ``oneOf``
with a ``discriminator``, and the formats ``uuid`` and ``date-time``.
"""

import datetime
import json
import re

import werkzeug.exceptions
import werkzeug.wrappers

API_PREFIX = "/multipas/device/v1"
API_VERSION = "1.0.0"
MAX_BODY_BYTES = 1024 * 1024
MAX_EVENTS = 500
ALLOWLIST_MAX_LIMIT = 5000
MAX_CURSOR = 2**63 - 1
MAX_INT32 = 2**31 - 1

ERROR_CODES = [
    "unauthorized",
    "forbidden",
    "bad_request",
    "too_large",
    "not_found",
    "replayed_batch",
    "method_not_allowed",
    "internal_error",
]

# Printable text: no control characters (NUL is refused by PostgreSQL).
TEXT_PATTERN = "^[^\\u0000-\\u001f\\u007f]+$"
# A card UID as readers report it: 4 to 10 bytes in hexadecimal.
UID_PATTERN = "^([0-9A-Fa-f]{2}){4,10}$"
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"
)
# RFC 3339 date-time: 2026-11-25T09:00:00.123Z or 2026-11-25T14:00:00+05:00.
DATE_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z"
)
UID_RE = re.compile(r"^(?:[0-9A-Fa-f]{2}){4,10}\Z")


class DeviceApiError(werkzeug.exceptions.HTTPException):
    """An error answer of the device API: ``{"error": {"code", "message"}}``.

    Raised (never returned) so that Odoo rolls the transaction back: a 4xx
    answer changes nothing.
    """

    def __init__(self, status, code, message, headers=None):
        super().__init__(description=message)
        self.code = status
        self.error_code = code
        self.extra_headers = dict(headers or {})

    def get_response(self, environ=None, scope=None):
        body = json.dumps(
            {"error": {"code": self.error_code, "message": self.description}},
            ensure_ascii=False,
        )
        headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Cache-Control", "no-store"),
            *self.extra_headers.items(),
        ]
        return werkzeug.wrappers.Response(body, status=self.code, headers=headers)


def bad_request(message):
    return DeviceApiError(400, "bad_request", message)


# === PARSING === #


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def _object_without_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def parse_json(raw, _):
    """Decode a request body: UTF-8 JSON, no NaN/Infinity, no duplicate keys,
    no NUL character and no lone surrogate in any string (PostgreSQL can't
    store them). ``_`` translates the error messages."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            object_pairs_hook=_object_without_duplicates,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise bad_request(
            _("The request body is not valid JSON: %(error)s", error=str(exc)[:200])
        ) from exc
    _check_strings(value, _)
    return value


def _check_strings(value, _):
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise bad_request(_("Text may not contain the NUL character."))
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise bad_request(_("Text may not contain lone UTF-16 surrogates.")) from exc


def parse_timestamp(value):
    """An RFC 3339 date-time as a naive UTC datetime, or None when it isn't one
    (or falls outside the years 1–9999 once converted to UTC)."""
    match = DATE_TIME_RE.match(value) if isinstance(value, str) else None
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zulu, sign, off_h, off_m = match.groups()[6:]
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        offset = datetime.timedelta(0)
        if not zulu:
            if int(off_h) > 23 or int(off_m) > 59:
                return None
            offset = datetime.timedelta(hours=int(off_h), minutes=int(off_m))
            if sign == "-":
                offset = -offset
        moment = datetime.datetime(year, month, day, hour, minute, second, micro)
        return moment - offset
    except (ValueError, OverflowError):
        return None


def format_timestamp(moment):
    """A naive UTC datetime as the API writes it: 2026-11-25T09:00:00.123Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# === VALIDATION === #

JSON_TYPES = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


def _python_pattern(pattern):
    # JSON Schema patterns are ECMAScript: "$" ends the string; Python's "$"
    # would also accept a final newline.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + "\\Z"
    return re.compile(pattern)


class Validator:
    """Validate decoded JSON against the document's schemas; the first
    problem found raises a 400 ``bad_request`` naming the field."""

    def __init__(self, components, translate):
        self.schemas = components["schemas"]
        self._ = translate
        self._patterns = {}

    def validate(self, value, schema_name):
        self._check(value, {"$ref": f"#/components/schemas/{schema_name}"}, "")

    def _fail(self, path, message):
        where = path or self._("request body")
        raise bad_request(self._("%(field)s: %(problem)s", field=where, problem=message))

    def _resolve(self, schema):
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def _check(self, value, schema, path):
        _ = self._
        schema = self._resolve(schema)
        if value is None:
            if schema.get("nullable"):
                return
            self._fail(path, _("may not be null"))
        if "oneOf" in schema:
            self._check_one_of(value, schema, path)
            return
        expected = schema.get("type")
        if expected:
            types = JSON_TYPES[expected]
            # JSON true/false are not numbers, though Python's bool is an int.
            if not isinstance(value, types) or (isinstance(value, bool) and expected != "boolean"):
                self._fail(path, _("expected %(type)s", type=_type_label(expected, _)))
        if "enum" in schema and value not in schema["enum"]:
            allowed = ", ".join(json.dumps(v) for v in schema["enum"] if v is not None)
            self._fail(path, _("must be one of %(values)s", values=allowed))
        if isinstance(value, str):
            self._check_string(value, schema, path)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self._check_number(value, schema, path)
        elif isinstance(value, list):
            self._check_array(value, schema, path)
        elif isinstance(value, dict):
            self._check_object(value, schema, path)

    def _check_string(self, value, schema, path):
        _ = self._
        if len(value) < schema.get("minLength", 0):
            if not value:
                self._fail(path, _("may not be empty"))
            self._fail(path, _("too short (at least %(min)s characters)", min=schema["minLength"]))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            self._fail(path, _("too long (at most %(max)s characters)", max=schema["maxLength"]))
        if "pattern" in schema:
            regex = self._patterns.get(schema["pattern"])
            if regex is None:
                regex = self._patterns[schema["pattern"]] = _python_pattern(schema["pattern"])
            if not regex.search(value):
                if schema["pattern"] == UID_PATTERN:
                    self._fail(path, _("not a card UID (4 to 10 bytes in hexadecimal)"))
                self._fail(
                    path, _("does not match the pattern %(pattern)s", pattern=schema["pattern"])
                )
        fmt = schema.get("format")
        if fmt == "uuid" and not UUID_RE.match(value):
            self._fail(path, _("not a UUID (8-4-4-4-12 hexadecimal digits)"))
        if fmt == "date-time" and parse_timestamp(value) is None:
            self._fail(
                path,
                _("not an RFC 3339 timestamp such as 2026-11-25T09:00:00.123Z"),
            )

    def _check_number(self, value, schema, path):
        _ = self._
        if "minimum" in schema and value < schema["minimum"]:
            self._fail(path, _("must be at least %(min)s", min=schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            self._fail(path, _("must be at most %(max)s", max=schema["maximum"]))

    def _check_array(self, value, schema, path):
        _ = self._
        if len(value) < schema.get("minItems", 0):
            self._fail(path, _("needs at least %(min)s item(s)", min=schema["minItems"]))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            self._fail(path, _("takes at most %(max)s items", max=schema["maxItems"]))
        if "items" in schema:
            for index, item in enumerate(value):
                self._check(item, schema["items"], f"{path}[{index}]")

    def _check_object(self, value, schema, path):
        _ = self._
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            for key in value:
                if key not in properties:
                    self._fail(_join(path, key), _("unknown field"))
        for key in schema.get("required", []):
            if key not in value:
                self._fail(_join(path, key), _("required field is missing"))
        for key, sub_schema in properties.items():
            if key in value:
                self._check(value[key], sub_schema, _join(path, key))

    def _check_one_of(self, value, schema, path):
        _ = self._
        discriminator = schema.get("discriminator")
        if not discriminator:
            raise NotImplementedError("oneOf without a discriminator")
        if not isinstance(value, dict):
            self._fail(path, _("expected %(type)s", type=_type_label("object", _)))
        name = discriminator["propertyName"]
        if name not in value:
            self._fail(_join(path, name), _("required field is missing"))
        mapping = discriminator["mapping"]
        if not isinstance(value[name], str) or value[name] not in mapping:
            self._fail(
                _join(path, name),
                _(
                    "unknown kind %(kind)s; this server knows %(kinds)s",
                    kind=json.dumps(value[name], ensure_ascii=False)[:80],
                    kinds=", ".join(sorted(mapping)),
                ),
            )
        self._check(value, {"$ref": mapping[value[name]]}, path)


def _join(path, key):
    return f"{path}.{key}" if path else key


def _type_label(json_type, _):
    return {
        "object": _("an object"),
        "array": _("an array"),
        "string": _("a string"),
        "boolean": _("true or false"),
        "integer": _("an integer"),
        "number": _("a number"),
    }[json_type]


# === THE DOCUMENT === #


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _error_response(description, codes):
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": _ref("Error"),
                "example": {"error": {"code": codes[0], "message": description}},
            }
        },
    }


def _json_body(schema_name, example):
    return {
        "required": True,
        "content": {"application/json": {"schema": _ref(schema_name), "example": example}},
    }


def _ok(description, schema_name, example):
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema_name), "example": example}},
    }


def _event_schema_name(kind):
    return "Event_" + kind


def _schemas(kinds):
    text = {"type": "string", "pattern": TEXT_PATTERN}
    uid = {
        "type": "string",
        "pattern": UID_PATTERN,
        "description": "Card UID in hexadecimal, 4 to 10 bytes, e.g. 04A1B2C3D4.",
    }
    reason = {
        "type": "string",
        "nullable": True,
        "enum": ["blocked", "retired", "not_issued", "left", None],
        "description": "Why the card is refused; null when allowed.",
    }
    holder_props = {
        "name": {"type": "string", "description": "Full name of the cardholder."},
        "class": {"type": "string", "nullable": True, "description": "Class, e.g. 5А."},
        "kind": {"type": "string", "enum": ["pupil", "staff"]},
    }
    schemas = {
        "Error": {
            "type": "object",
            "additionalProperties": False,
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": ERROR_CODES},
                        "message": {"type": "string", "description": "Human-readable text."},
                    },
                }
            },
        },
        "Reader": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "kind", "state"],
            "properties": {
                "name": dict(text, minLength=1, maxLength=64, example="pcsc-0"),
                "kind": dict(text, minLength=1, maxLength=32, example="pcsc"),
                "state": {"type": "string", "enum": ["ok", "error", "absent"]},
            },
        },
        "HeartbeatRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["version", "queue_depth"],
            "properties": {
                "version": dict(
                    text, minLength=1, maxLength=32, description="Version of the box software."
                ),
                "queue_depth": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_INT32,
                    "description": "Events waiting in the box's journal.",
                },
                "readers": {"type": "array", "maxItems": 16, "items": _ref("Reader")},
            },
        },
        "HeartbeatResponse": {
            "type": "object",
            "additionalProperties": False,
            "required": ["server_time", "device", "allowlist_version"],
            "properties": {
                "server_time": {"type": "string", "format": "date-time"},
                "device": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "name", "kind", "school_code", "timezone"],
                    "properties": {
                        "id": {"type": "integer"},
                        "name": {"type": "string"},
                        "kind": {"type": "string", "enum": ["turnstile", "till", "kiosk"]},
                        "school_code": {"type": "string"},
                        "timezone": {"type": "string", "example": "Asia/Yekaterinburg"},
                    },
                },
                "allowlist_version": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Cursor of the latest change of the school's allow-list.",
                },
            },
        },
        "AllowlistCard": {
            "type": "object",
            "additionalProperties": False,
            "required": ["uid", "allow", "reason", "number", "holder"],
            "properties": {
                "uid": uid,
                "allow": {"type": "boolean"},
                "reason": reason,
                "number": {"type": "string", "nullable": True, "description": "Printed number."},
                "holder": {
                    "type": "object",
                    "nullable": True,
                    "additionalProperties": False,
                    "required": ["name", "class", "kind"],
                    "properties": holder_props,
                    "description": "Null when the card is refused.",
                },
            },
        },
        "AllowlistPage": {
            "type": "object",
            "additionalProperties": False,
            "required": ["cursor", "more", "full", "cards"],
            "properties": {
                "cursor": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Pass it as `since` in the next request.",
                },
                "more": {"type": "boolean", "description": "Ask again with `since=cursor`."},
                "full": {
                    "type": "boolean",
                    "description": "True on a snapshot page: drop the local list first.",
                },
                "cards": {"type": "array", "items": _ref("AllowlistCard")},
            },
        },
        "CardInfo": {
            "type": "object",
            "additionalProperties": False,
            "required": ["uid", "allow", "reason", "number", "holder"],
            "properties": {
                "uid": uid,
                "allow": {"type": "boolean"},
                "reason": reason,
                "number": {"type": "string"},
                "holder": {
                    "type": "object",
                    "nullable": True,
                    "additionalProperties": False,
                    "required": ["name", "class", "kind", "photo_url"],
                    "properties": dict(
                        holder_props,
                        photo_url={
                            "type": "string",
                            "nullable": True,
                            "description": "Path of the photo on this server (needs a session).",
                        },
                    ),
                },
            },
        },
        "EventBatch": {
            "type": "object",
            "additionalProperties": False,
            "required": ["batch_id", "events"],
            "properties": {
                "batch_id": {
                    "type": "string",
                    "format": "uuid",
                    "description": "UUID of this batch; a batch already accepted answers 409 "
                    "(remembered 90 days by default; later each event answers duplicate).",
                },
                "events": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_EVENTS,
                    "items": {
                        "oneOf": [_ref(_event_schema_name(kind)) for kind in kinds],
                        "discriminator": {
                            "propertyName": "kind",
                            "mapping": {
                                kind: f"#/components/schemas/{_event_schema_name(kind)}"
                                for kind in kinds
                            },
                        },
                    },
                },
            },
        },
        "EventResult": {
            "type": "object",
            "additionalProperties": False,
            "required": ["uuid", "status"],
            "properties": {
                "uuid": {"type": "string", "format": "uuid"},
                "status": {"type": "string", "enum": ["accepted", "duplicate"]},
            },
        },
        "EventResults": {
            "type": "object",
            "additionalProperties": False,
            "required": ["results"],
            "properties": {
                "results": {
                    "type": "array",
                    "items": _ref("EventResult"),
                    "description": "One result per event, in the order of the request.",
                }
            },
        },
    }
    for kind, spec in kinds.items():
        schemas[_event_schema_name(kind)] = {
            "type": "object",
            "additionalProperties": False,
            "required": ["uuid", "kind", "uid", "at"],
            "description": spec.get("description", ""),
            "properties": {
                "uuid": {
                    "type": "string",
                    "format": "uuid",
                    "description": "Given by the box; the server keeps one event per UUID.",
                },
                "kind": {"type": "string", "enum": [kind]},
                "uid": uid,
                "at": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When it happened, by the box clock (UTC).",
                },
                "reader": dict(text, minLength=1, maxLength=64, description="Reader name."),
                "data": spec["data_schema"],
            },
        }
    return schemas


def openapi_document(kinds):
    """The OpenAPI 3.0 document of the device API for the event ``kinds``
    (``{kind: {"description": str, "data_schema": dict}}``)."""
    kinds = dict(sorted(kinds.items()))
    first_kind = next(iter(kinds))
    auth_errors = {
        "401": _error_response("Missing, unknown or revoked device key.", ["unauthorized"]),
        "500": _error_response("Unexpected server error; retry later.", ["internal_error"]),
    }
    bad = _error_response("Malformed request: the message names the field.", ["bad_request"])
    too_large = _error_response("Body over 1 MiB or more than 500 events.", ["too_large"])
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Multipas device API",
            "version": API_VERSION,
            "description": (
                "What turnstiles, tills and kiosks (the Multipas box) exchange with Odoo. "
                "Plain JSON over HTTP. Every route but this document needs "
                "`Authorization: Bearer <device key>`; the key is shown once on the device "
                "record in Odoo. Every error answer is "
                '`{"error": {"code": "...", "message": "..."}}` and changes nothing; '
                "unknown fields are refused (400)."
            ),
        },
        "servers": [{"url": API_PREFIX}],
        "security": [{"deviceKey": []}],
        "paths": {
            "/heartbeat": {
                "post": {
                    "operationId": "heartbeat",
                    "summary": "Report the box's state; learn the server time and allow-list version",
                    "requestBody": _json_body(
                        "HeartbeatRequest",
                        {
                            "version": "0.1.0",
                            "queue_depth": 0,
                            "readers": [{"name": "pcsc-0", "kind": "pcsc", "state": "ok"}],
                        },
                    ),
                    "responses": {
                        "200": _ok(
                            "The device as the server knows it.",
                            "HeartbeatResponse",
                            {
                                "server_time": "2026-11-25T09:00:00.000Z",
                                "device": {
                                    "id": 3,
                                    "name": "Main entrance",
                                    "kind": "turnstile",
                                    "school_code": "SCH108",
                                    "timezone": "Asia/Yekaterinburg",
                                },
                                "allowlist_version": 1234,
                            },
                        ),
                        "400": bad,
                        "413": too_large,
                        **auth_errors,
                    },
                }
            },
            "/allowlist": {
                "get": {
                    "operationId": "allowlist",
                    "summary": "The school's cards: a snapshot, or the changes after a cursor",
                    "description": (
                        "`since` absent or 0: a snapshot from the start (`full: true`). "
                        "Otherwise the changes after that cursor. Loop with `since=cursor` "
                        "while `more` is true. A cursor the server never handed out (e.g. "
                        "after a database restore) is answered with a snapshot page "
                        "(`full: true`): drop the local list and continue from its cursor."
                    ),
                    "parameters": [
                        {
                            "name": "since",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_CURSOR},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": ALLOWLIST_MAX_LIMIT,
                                "default": ALLOWLIST_MAX_LIMIT,
                            },
                        },
                    ],
                    "responses": {
                        "200": _ok(
                            "One page of the allow-list.",
                            "AllowlistPage",
                            {
                                "cursor": 1234,
                                "more": False,
                                "full": True,
                                "cards": [
                                    {
                                        "uid": "04A1B2C3D4",
                                        "allow": True,
                                        "reason": None,
                                        "number": "0001234",
                                        "holder": {
                                            "name": "Иванов Иван Иванович",
                                            "class": "5А",
                                            "kind": "pupil",
                                        },
                                    }
                                ],
                            },
                        ),
                        "400": bad,
                        **auth_errors,
                    },
                }
            },
            "/cards/{uid}": {
                "get": {
                    "operationId": "card",
                    "summary": "Holder display data of one card of the device's school",
                    "parameters": [
                        {
                            "name": "uid",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": UID_PATTERN},
                            "example": "04A1B2C3D4",
                        }
                    ],
                    "responses": {
                        "200": _ok(
                            "The card.",
                            "CardInfo",
                            {
                                "uid": "04A1B2C3D4",
                                "allow": True,
                                "reason": None,
                                "number": "0001234",
                                "holder": {
                                    "name": "Иванов Иван Иванович",
                                    "class": "5А",
                                    "kind": "pupil",
                                    "photo_url": None,
                                },
                            },
                        ),
                        "400": bad,
                        "404": _error_response(
                            "No card in use with this UID at the device's school.", ["not_found"]
                        ),
                        **auth_errors,
                    },
                }
            },
            "/events": {
                "post": {
                    "operationId": "events",
                    "summary": "Push a batch of events (at least once; the server dedups)",
                    "requestBody": _json_body(
                        "EventBatch",
                        {
                            "batch_id": "0b7a2f8e-4a55-4a3e-9c1b-2f4a7d1e9c20",
                            "events": [
                                {
                                    "uuid": "5f0c8d52-2c1e-4f7a-8a8e-1d2b3c4d5e6f",
                                    "kind": first_kind,
                                    "uid": "04A1B2C3D4",
                                    "at": "2026-11-25T09:00:00.123Z",
                                    "reader": "pcsc-0",
                                    "data": {},
                                }
                            ],
                        },
                    ),
                    "responses": {
                        "200": _ok(
                            "Stored (accepted) or already stored earlier (duplicate).",
                            "EventResults",
                            {
                                "results": [
                                    {
                                        "uuid": "5f0c8d52-2c1e-4f7a-8a8e-1d2b3c4d5e6f",
                                        "status": "accepted",
                                    }
                                ]
                            },
                        ),
                        "400": bad,
                        "409": _error_response(
                            "This batch_id was already accepted: treat it as delivered.",
                            ["replayed_batch"],
                        ),
                        "413": too_large,
                        **auth_errors,
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "deviceKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The device key shown once on the device record.",
                }
            },
            "schemas": _schemas(kinds),
        },
    }


def dump_document(document):
    """The document as the static file holds it."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
