import logging

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from odoo import models
from odoo.exceptions import AccessDenied, AccessError, UserError
from odoo.http import request

from ..controllers.device_api_schema import API_PREFIX, DeviceApiError

_logger = logging.getLogger(__name__)

# HTTP status → error code of the device API.
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "replayed_batch",
    413: "too_large",
}


def _is_device_api_path(path):
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


class IrHttp(models.AbstractModel):
    """The device API's own authentication (``auth="multipas_device"``) and
    its JSON error answers, also for the errors Odoo raises before or around
    the route (unknown path, wrong method, body too large, crashes)."""

    _inherit = "ir.http"

    @classmethod
    def _auth_method_multipas_device(cls):
        """``Authorization: Bearer <device key>``: run the request as the
        device's technical user, with the device id in the context."""
        device = (
            request.env["multipas.device"]
            .sudo()
            ._authenticate_bearer(request.httprequest.headers.get("Authorization"))
        )
        if not device:
            raise DeviceApiError(
                401,
                "unauthorized",
                request.env._("Missing, unknown or revoked device key."),
                headers={"WWW-Authenticate": 'Bearer realm="multipas-device"'},
            )
        request.update_env(user=device.user_id.id)
        request.update_context(multipas_device_id=device.id)

    @classmethod
    def _match(cls, path_info):
        if not _is_device_api_path(path_info):
            return super()._match(path_info)
        method = request.httprequest.method
        try:
            rule, args = super()._match(path_info)
        except MethodNotAllowed as exc:
            raise cls._device_api_method_not_allowed(method, exc.valid_methods) from exc
        except NotFound as exc:
            raise DeviceApiError(
                404,
                "not_found",
                request.env._("No such route in the device API: %(path)s", path=path_info),
            ) from exc
        # werkzeug lets OPTIONS through to every route; the API has no CORS.
        if method == "OPTIONS":
            raise cls._device_api_method_not_allowed(method, rule.methods)
        return rule, args

    @classmethod
    def _device_api_method_not_allowed(cls, method, valid_methods):
        allowed = ", ".join(sorted(m for m in valid_methods or () if m not in ("OPTIONS", "HEAD")))
        return DeviceApiError(
            405,
            "method_not_allowed",
            request.env._(
                "%(method)s is not allowed here; use %(allowed)s.",
                method=method,
                allowed=allowed,
            ),
            headers={"Allow": allowed},
        )

    @classmethod
    def _handle_error(cls, exception):
        if not (request and _is_device_api_path(request.httprequest.path)):
            return super()._handle_error(exception)
        if isinstance(exception, DeviceApiError):
            return exception
        if isinstance(exception, HTTPException) and exception.code in STATUS_CODES:
            return DeviceApiError(
                exception.code, STATUS_CODES[exception.code], exception.description or ""
            )
        if isinstance(exception, (AccessDenied, AccessError)):
            return DeviceApiError(
                403, "forbidden", str(exception.args[0] if exception.args else "")
            )
        if isinstance(exception, UserError):
            return DeviceApiError(400, "bad_request", str(exception.args[0]))
        # Odoo logs the traceback itself (odoo.http.Application).
        return DeviceApiError(
            500, "internal_error", request.env._("Unexpected server error; retry later.")
        )
