import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

# How long a delivered batch is remembered for the 409 answer. A box re-sends
# a batch when it missed the answer, within minutes or after an outage; an
# older replay is still harmless: its events are deduplicated one by one
# (their UUIDs are kept with the events), it just gets "duplicate" per event
# instead of 409.
RETENTION_PARAM = "multipas_cards.device_batch_retention_days"
RETENTION_DAYS = 90
PURGE_CHUNK = 50_000


class MultipasDeviceBatch(models.Model):
    """A batch of events a device delivered, kept so that a batch sent again
    (the box did not hear the answer) is recognised as a whole: 409."""

    _name = "multipas.device.batch"
    _description = "Device event batch"
    _order = "received_at desc, id desc"
    _rec_name = "uuid"

    uuid = fields.Char(string="UUID", required=True, readonly=True)
    device_id = fields.Many2one(
        "multipas.device", required=True, readonly=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    received_at = fields.Datetime(string="Received", required=True, readonly=True, index=True)
    event_count = fields.Integer(string="Events", readonly=True)
    accepted_count = fields.Integer(
        string="Accepted", readonly=True, help="Events stored by this batch (not duplicates)."
    )

    _sql_constraints = [
        (
            "device_uuid_uniq",
            "unique(device_id, uuid)",
            "This device already delivered a batch with this UUID.",
        ),
    ]

    @api.model
    def _retention_days(self):
        raw = self.env["ir.config_parameter"].sudo().get_param(RETENTION_PARAM, RETENTION_DAYS)
        try:
            days = int(raw)
        except (TypeError, ValueError):
            days = 0
        if days < 1:
            _logger.warning(
                "%s must be a whole number of days ≥ 1, not %r: keeping batches %s days",
                RETENTION_PARAM,
                raw,
                RETENTION_DAYS,
            )
            days = RETENTION_DAYS
        return days

    @api.model
    def _cron_purge_old_batches(self):
        """Forget delivered batches older than the retention period, in chunks
        (nothing refers to a batch row; its events stay)."""
        cutoff = fields.Datetime.now() - timedelta(days=self._retention_days())
        total = 0
        while True:
            self.env.cr.execute(
                SQL(
                    """
                    DELETE FROM multipas_device_batch
                     WHERE id IN (SELECT id FROM multipas_device_batch
                                   WHERE received_at < %s LIMIT %s)
                    """,
                    cutoff,
                    PURGE_CHUNK,
                )
            )
            total += self.env.cr.rowcount
            if self.env.cr.rowcount < PURGE_CHUNK:
                break
        if total:
            self.invalidate_model()
            _logger.info("Forgot %s device batches received before %s", total, cutoff)
        return total
