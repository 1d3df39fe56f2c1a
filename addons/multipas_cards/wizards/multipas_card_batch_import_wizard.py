import base64
import binascii
import re

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..models.multipas_card import normalize_uid

# "108-000501;04A22B1C5D6E80": one card a line; "," or a tab also separate.
SEPARATORS = re.compile(r"[;,\t]")
MAX_FILE_SIZE = 2 * 1024 * 1024


class MultipasCardBatchImportWizard(models.TransientModel):
    """Import the encoder's file into a draft card batch: one line per card,
    ``number;uid`` (the printed number, then the chip's UID in hexadecimal).

    A line whose number is already on a card of the batch gives that card its
    UID; other lines number the batch's unnumbered cards in the order they
    were added. The preview shows what each line does; the import writes all
    lines or, on any error, none.
    """

    _name = "multipas.card.batch.import.wizard"
    _description = "Import the encoder's file into a card batch"

    batch_id = fields.Many2one("multipas.card.batch", required=True, readonly=True)
    file = fields.Binary(string="Encoder's file", required=True)
    filename = fields.Char()
    preview = fields.Html(compute="_compute_preview", sanitize=False)
    error_count = fields.Integer(compute="_compute_preview")
    line_count = fields.Integer(compute="_compute_preview", string="Cards in the file")

    @api.depends("file", "batch_id")
    def _compute_preview(self):
        for wizard in self:
            if not wizard.file:
                wizard.preview = False
                wizard.error_count = wizard.line_count = 0
                continue
            rows, errors = wizard._plan()
            wizard.line_count = len(rows)
            wizard.error_count = len(errors)
            wizard.preview = wizard._render_preview(rows, errors)

    # === PARSING === #

    def _decode(self):
        try:
            raw = base64.b64decode(self.file or b"", validate=True)
        except (binascii.Error, ValueError):
            # A file set from Python tests or RPC may come as plain bytes.
            raw = self.file if isinstance(self.file, bytes) else b""
        if len(raw) > MAX_FILE_SIZE:
            raise UserError(self.env._("The encoder's file is too large (2 MB at most)."))
        for encoding in ("utf-8-sig", "cp1251"):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                continue
        raise UserError(self.env._("The file is neither UTF-8 nor Windows-1251 text."))

    @api.model
    def _parse_lines(self, text):
        """[(line number, printed number, raw uid)] and errors [(line, message)]."""
        rows, errors = [], []
        first = True
        for lineno, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = [part.strip().strip('"') for part in SEPARATORS.split(line)]
            if first and len(parts) == 2 and not normalize_uid(parts[1]):
                first = False
                if not re.search(r"\d", parts[0]):
                    continue  # a header line such as "number;uid"
            first = False
            if len(parts) != 2:
                errors.append(
                    (
                        lineno,
                        self.env._(
                            "expected two fields, number;uid, found %(count)s",
                            count=len(parts),
                        ),
                    )
                )
                continue
            rows.append((lineno, parts[0], parts[1]))
        return rows, errors

    def _plan(self):
        """Match the file's lines to the batch's cards.

        Returns ``(rows, errors)``: rows are dicts (line, number, uid, card);
        errors are (line, message) pairs, sorted by line.
        """
        self.ensure_one()
        rows, errors = self._parse_lines(self._decode())
        batch = self.batch_id
        cards = batch._ordered_cards()
        by_number = {card.number: card for card in cards if card.number}
        unnumbered = iter(cards.filtered(lambda c: not c.number))
        seen_uids, seen_numbers, plan = {}, {}, []
        Card = self.env["multipas.card"].sudo()
        for lineno, number, raw_uid in rows:
            uid = normalize_uid(raw_uid)
            row = {"line": lineno, "number": number, "uid": uid or raw_uid, "card": None}
            plan.append(row)
            problem = None
            if not number:
                problem = self.env._("the card number is empty")
            elif not uid:
                problem = self.env._(
                    "“%(uid)s” is not a card UID (4 to 10 bytes in hexadecimal)", uid=raw_uid
                )
            elif uid in seen_uids:
                problem = self.env._(
                    "UID %(uid)s is also on line %(other)s", uid=uid, other=seen_uids[uid]
                )
            elif number in seen_numbers:
                problem = self.env._(
                    "number %(number)s is also on line %(other)s",
                    number=number,
                    other=seen_numbers[number],
                )
            if problem:
                errors.append((lineno, problem))
                continue
            seen_uids[uid] = lineno
            seen_numbers[number] = lineno
            card = by_number.get(number)
            if not card:
                card = next(unnumbered, None)
                if card is None:
                    errors.append(
                        (
                            lineno,
                            self.env._(
                                "no card of the batch is left for number %(number)s: the "
                                "file has more cards than the batch",
                                number=number,
                            ),
                        )
                    )
                    continue
                other = Card.search([("number", "=", number)], limit=1)
                if other:
                    errors.append(
                        (
                            lineno,
                            self.env._(
                                "number %(number)s is already printed on another card",
                                number=number,
                            ),
                        )
                    )
                    continue
            row["card"] = card
        # UIDs must stay unique among the cards in use, including the cards of
        # this batch the file doesn't mention.
        assigned = {row["card"].id for row in plan if row["card"]}
        if seen_uids:
            taken = Card.search(
                [
                    ("uid", "in", list(seen_uids)),
                    ("state", "!=", "retired"),
                    ("id", "not in", list(assigned)),
                ]
            )
            for card in taken:
                errors.append(
                    (
                        seen_uids[card.uid],
                        self.env._(
                            "UID %(uid)s is already used by card %(card)s",
                            uid=card.uid,
                            card=card.display_name,
                        ),
                    )
                )
        if not plan and not errors:
            errors.append((0, self.env._("the file has no card line")))
        return plan, sorted(errors, key=lambda error: error[0])

    def _render_preview(self, rows, errors):
        error_of = {}
        for lineno, message in errors:
            error_of.setdefault(lineno, []).append(message)
        head = Markup(
            "<table class='table table-sm o_multipas_import_preview'><thead><tr>"
            "<th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr></thead><tbody>"
        ) % (
            self.env._("Line"),
            self.env._("Number"),
            self.env._("UID"),
            self.env._("Card for"),
            self.env._("Check"),
        )
        body = Markup()
        for row in rows:
            card = row["card"]
            if card:
                owner = card.holder_id.display_name or self.env._("reserve")
            else:
                owner = ""
            problems = error_of.get(row["line"])
            status = (
                Markup("<span class='text-danger'>%s</span>") % "; ".join(problems)
                if problems
                else Markup("<span class='text-success'>%s</span>") % self.env._("OK")
            )
            body += Markup("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>") % (
                row["line"],
                row["number"],
                row["uid"],
                owner,
                status,
            )
        other = [
            (lineno, message)
            for lineno, message in errors
            if lineno not in {row["line"] for row in rows}
        ]
        tail = Markup("</tbody></table>")
        for lineno, message in other:
            tail += Markup("<p class='text-danger'>%s</p>") % self._error_line(lineno, message)
        return head + body + tail

    def _error_line(self, lineno, message):
        if not lineno:
            return message
        return self.env._("Line %(line)s: %(message)s", line=lineno, message=message)

    # === IMPORT === #

    def action_import(self):
        """Write every line of the file or, on any error, none."""
        self.ensure_one()
        batch = self.batch_id
        batch._check_state(("draft",), self.env._("import UIDs into"))
        rows, errors = self._plan()
        if errors:
            raise UserError(
                self.env._(
                    "The file was not imported, nothing changed:\n%(errors)s",
                    errors="\n".join(self._error_line(*error) for error in errors),
                )
            )
        cards = self.env["multipas.card"].browse([row["card"].id for row in rows])
        # Free the UIDs first, so that two cards of the batch can swap theirs.
        cards.filtered("uid").write({"uid": False})
        for row in rows:
            row["card"].write({"number": row["number"], "uid": row["uid"]})
        batch.message_post(
            body=self.env._(
                "Encoder's file %(file)s imported: %(count)s cards.",
                file=self.filename or "",
                count=len(rows),
            )
        )
        return {"type": "ir.actions.act_window_close"}
