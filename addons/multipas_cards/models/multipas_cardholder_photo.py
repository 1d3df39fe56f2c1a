import base64
import io

from PIL import Image, ImageOps, UnidentifiedImageError

from odoo import fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools.mimetypes import guess_mimetype

from .multipas_portal_tools import in_language_of, school_responsible_user

# What a guardian may upload (regulation §8.3: the cashier sees the photo).
PHOTO_MAX_BYTES = 5 * 1024 * 1024
PHOTO_MIMETYPES = {"image/jpeg": "JPEG", "image/png": "PNG"}
# Far above any phone camera; refuses decompression bombs before decoding.
PHOTO_MAX_PIXELS = 50_000_000
PHOTO_SIZE = (600, 800)  # 3:4 portrait, like an ID photo
PHOTO_QUALITY = 85


def normalize_photo(data, env):
    """Check that ``data`` is a real JPEG or PNG photo of at most 5 MB and
    return it re-encoded: turned upright, cropped to 3:4, 600×800 JPEG, with
    no metadata (EXIF, GPS, camera) left in it.

    :raises UserError: (translated) for anything else
    """
    if not data:
        raise UserError(env._("Choose a photo to upload."))
    if len(data) > PHOTO_MAX_BYTES:
        megabytes = f"{len(data) / 1024 / 1024:.1f}"
        raise UserError(
            env._(
                "The photo is %(size)s MB: the limit is 5 MB. Take a smaller one or "
                "lower the camera resolution.",
                size=megabytes,
            )
        )
    if guess_mimetype(data) not in PHOTO_MIMETYPES:
        raise UserError(env._("This file is not a JPEG or PNG photo."))
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in PHOTO_MIMETYPES.values():
                raise UserError(env._("This file is not a JPEG or PNG photo."))
            if probe.width * probe.height > PHOTO_MAX_PIXELS:
                raise UserError(env._("The photo has too many pixels: take a smaller one."))
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            if upright.mode not in ("RGB", "L"):
                # Transparent PNGs get a white background, not a black one.
                background = Image.new("RGB", upright.size, "white")
                rgba = upright.convert("RGBA")
                background.paste(rgba, mask=rgba.getchannel("A"))
                upright = background
            fitted = ImageOps.fit(upright.convert("RGB"), PHOTO_SIZE, Image.Resampling.LANCZOS)
    except UserError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise UserError(
            env._("This photo can't be read: the file is damaged or not an image.")
        ) from None
    output = io.BytesIO()
    # A new image object carries no EXIF/ICC/XMP: nothing of the original's metadata.
    fitted.save(output, format="JPEG", quality=PHOTO_QUALITY, optimize=True)
    return output.getvalue()


class MultipasCardholder(models.Model):
    """Photos uploaded by guardians wait here until the school approves them;
    only then do they become the photo the cashier sees (regulation §8.3)."""

    _inherit = "multipas.cardholder"

    photo_pending = fields.Image(
        string="Photo to approve",
        attachment=True,
        copy=False,
        help="Uploaded by a guardian in the cabinet; not shown at the till until approved.",
    )
    photo_pending_date = fields.Datetime(string="Photo uploaded on", readonly=True, copy=False)
    photo_pending_by_id = fields.Many2one(
        "res.partner", string="Photo uploaded by", readonly=True, copy=False
    )
    photo_state = fields.Selection(
        [
            ("none", "No photo uploaded"),
            ("pending", "Waiting for approval"),
            ("approved", "Approved"),
            ("rejected", "Rejected"),
        ],
        string="Photo status",
        required=True,
        default="none",
        readonly=True,
        copy=False,
        tracking=True,
        index=True,
    )
    photo_reject_reason = fields.Char(
        string="Why the photo was rejected",
        copy=False,
        help="Shown to the guardian in the cabinet, e.g. face not visible.",
    )

    # === CABINET === #

    def _multipas_portal_submit_photo(self, data):
        """A guardian uploads a photo of their child: checked, re-encoded and
        kept as pending; the school coordinator gets an activity to review it."""
        self.ensure_one()
        holder = self.env["res.partner"]._multipas_guardian_check(self, act=True)
        photo = normalize_photo(data, self.env)
        guardian = self.env.user.partner_id
        holder = holder.sudo()
        holder.write(
            {
                "photo_pending": base64.b64encode(photo),
                "photo_pending_date": fields.Datetime.now(),
                "photo_pending_by_id": guardian.id,
                "photo_state": "pending",
                "photo_reject_reason": False,
            }
        )
        activity_type = self.env.ref("multipas_cards.mail_activity_photo_review")
        if not holder.activity_ids.filtered(lambda a: a.activity_type_id == activity_type):
            responsible = school_responsible_user(holder.school_id)
            holder = in_language_of(responsible, holder)
            holder.activity_schedule(
                activity_type_id=activity_type.id,
                user_id=responsible.id,
                note=holder.env._(
                    "%(guardian)s uploaded a new photo of %(child)s in the cabinet.",
                    guardian=guardian.name,
                    child=holder.name,
                ),
            )
        return True

    # === SCHOOL === #

    def _check_photo_reviewer(self):
        if not (
            self.env.su
            or self.env.user.has_group("multipas_cards.group_operator_clerk")
            or self.env.user.has_group("multipas_cards.group_school_coordinator")
        ):
            raise AccessError(
                self.env._("Only the school coordinator or the operator approves photos.")
            )
        # Coordinators: their own schools only (record rules).
        self.check_access("write")

    def action_photo_approve(self):
        """The uploaded photo becomes the cardholder's photo, the one the
        cashier sees when the card is tapped."""
        self._check_photo_reviewer()
        for holder in self:
            if holder.photo_state != "pending" or not holder.photo_pending:
                raise UserError(
                    self.env._("%(name)s has no photo waiting for approval.", name=holder.name)
                )
            holder.write(
                {
                    "image_1920": holder.photo_pending,
                    "photo_pending": False,
                    "photo_state": "approved",
                    "photo_reject_reason": False,
                }
            )
            holder.sudo().activity_feedback(
                ["multipas_cards.mail_activity_photo_review"],
                feedback=self.env._("Photo approved."),
            )
        return True

    def action_photo_reject(self):
        """Refuse the uploaded photo; the guardian reads the reason in the cabinet."""
        self._check_photo_reviewer()
        for holder in self:
            if holder.photo_state != "pending":
                raise UserError(
                    self.env._("%(name)s has no photo waiting for approval.", name=holder.name)
                )
            if not (holder.photo_reject_reason or "").strip():
                raise UserError(
                    self.env._(
                        "Write why the photo of %(name)s is rejected: the guardian reads it.",
                        name=holder.name,
                    )
                )
            holder.write({"photo_pending": False, "photo_state": "rejected"})
            holder.sudo().activity_feedback(
                ["multipas_cards.mail_activity_photo_review"],
                feedback=self.env._(
                    "Photo rejected: %(reason)s", reason=holder.photo_reject_reason
                ),
            )
        return True
