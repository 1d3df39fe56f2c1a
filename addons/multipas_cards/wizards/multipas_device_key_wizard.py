import json
import textwrap

from odoo import api, fields, models

# Where the box looks for its files when installed as devices/README.md says.
BOX_CONFIG_PATH = "/etc/multipas-box/multipas-box.toml"
BOX_KEY_PATH = "/etc/multipas-box/key"


def toml_string(value):
    """A TOML basic string: JSON's string escapes are valid TOML ones."""
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


class MultipasDeviceKeyWizard(models.TransientModel):
    """Shows a freshly generated device key once. Never saved: the key comes
    in the action's context and the dialog only has a Close button."""

    _name = "multipas.device.key.wizard"
    _description = "Device key"

    device_id = fields.Many2one("multipas.device", required=True, readonly=True)
    key = fields.Char(readonly=True)
    box_config = fields.Text(
        string="Box configuration",
        compute="_compute_box_config",
        help="A starting configuration file for this device's box, with this server's "
        "address; the key goes into its own file, not into this one.",
    )

    @api.depends("device_id")
    def _compute_box_config(self):
        base_url = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for wizard in self:
            wizard.box_config = wizard.device_id and wizard._box_config(base_url) or False

    def _box_config(self, base_url):
        """The TOML file for the device's box: the server, the key file and one
        PC/SC reader in the device's role (a turnstile's opens a USB relay)."""
        device = self.device_id
        _ = self.env._
        comments = [
            _(
                "multipas-box configuration of %(device)s (%(school)s), device #%(id)s.",
                device=device.name,
                school=device.school_id.name,
                id=device.id,
            ),
            _(
                "Save it as %(config)s and the key, alone on one line, as %(key)s "
                "(readable by the box only: chmod 600).",
                config=BOX_CONFIG_PATH,
                key=BOX_KEY_PATH,
            ),
            _(
                "Every setting is explained in devices/multipas-box.example.toml; check the "
                "file with: multipas-box --check-config -c %(config)s",
                config=BOX_CONFIG_PATH,
            ),
        ]
        lines = [
            *(
                line
                for comment in comments
                for line in textwrap.wrap(
                    comment,
                    78,
                    initial_indent="# ",
                    subsequent_indent="#   ",
                    break_on_hyphens=False,
                    break_long_words=False,
                )
            ),
            "",
            "[box]",
            f"name = {toml_string(device.name)}",
            "",
            "[server]",
            f"url = {toml_string(base_url)}",
            f"key_file = {toml_string(BOX_KEY_PATH)}",
            "",
            "[[reader]]",
            'name = "pcsc-0"',
            'kind = "pcsc"',
        ]
        if device.kind == "turnstile":
            lines += [
                'role = "turnstile"',
                'direction = "in"',
                'output = "relay-0"',
                "",
                "[[output]]",
                'name = "relay-0"',
                'kind = "serial"',
                'device = "/dev/ttyUSB0"',
            ]
        else:
            lines.append('role = "till"')
        return "\n".join(lines) + "\n"
