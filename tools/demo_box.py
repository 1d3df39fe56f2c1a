#!/usr/bin/env python3
"""Give a demo database's canteen till a key and write the configuration of a simulated
box for it, so that a box can talk to the demo school (``make box``, docker/).

    python3 tools/demo_box.py --db multipas_demo --url http://localhost:8069 --out var/box

What it does, in the demo database:

- takes the canteen till of the first demo school (МАОУ «СОШ № 108»), or the device
  given with ``--device-id``;
- reuses the key in ``OUT/key`` when it is still that device's active key, otherwise
  generates a new one as the administrator (an operator manager would do the same in
  Multipas › Devices; the previous key stops working) and writes it to ``OUT/key``
  (mode 0600);
- writes ``OUT/multipas-box.toml``: the server, the key file and a simulated till
  reader that taps a few of the school's issued cards and one card nobody knows, every
  ``--interval`` seconds. Each tap is a ``card_tap`` event the box journals and delivers;
  Odoo stores it on the device (Multipas › Devices). A turnstile reader would send
  ``passage`` events, which Odoo accepts once an access-control addon knows them.

Only for demo databases: it refuses a database without the demo schools. Odoo must be
importable (as for ``make demo``); ``--odoo-config`` reads the database connection and
addons path from an Odoo configuration file (docker/), otherwise the local PostgreSQL
and this repository's addons are used.
"""

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO_SCHOOL = "multipas_cards.school_sch108"
# A UID no demo card has: Odoo stores its tap as an unknown card.
UNKNOWN_UID = "04D3C0DE000000"
CARDS_TAPPED = 5


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="multipas_demo", help="demo database (multipas_demo)")
    parser.add_argument(
        "--url", default="http://localhost:8069", help="Odoo address as the box reaches it"
    )
    parser.add_argument("--out", default=str(REPO / "var" / "box"), help="folder to write to")
    parser.add_argument(
        "--data-dir", help="the box's own data folder (default: OUT/data), as the box sees it"
    )
    parser.add_argument("--key-file", help="the key file's path as the box sees it (OUT/key)")
    parser.add_argument("--odoo-config", help="an Odoo configuration file (db_host, addons_path…)")
    parser.add_argument("--device-id", type=int, help="this device instead of the demo till")
    parser.add_argument(
        "--listen", default="127.0.0.1", help="address of the box's status page (127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8765, help="port of the status page (8765)")
    parser.add_argument(
        "--interval", type=float, default=10.0, help="seconds between simulated taps (10)"
    )
    return parser.parse_args(argv)


def open_registry(args):
    import odoo  # noqa: PLC0415

    if args.odoo_config:
        odoo_args = ["-c", args.odoo_config]
    else:
        sys.path.insert(0, str(REPO / "tools"))
        import run_tests  # noqa: PLC0415

        odoo_args = [f"--addons-path={run_tests.odoo_addons_path(odoo)}"]
    odoo.tools.config.parse_config(
        [*odoo_args, "-d", args.db, "--log-level=warn", "--max-cron-threads=0"],
        setup_logging=True,
    )
    return odoo.modules.registry.Registry(args.db)


def box_config(args, device, uids, key_file, data_dir):
    # the addon's quoting, the one its key dialog writes box files with
    from odoo.addons.multipas_cards.wizards.multipas_device_key_wizard import (  # noqa: PLC0415
        toml_string,
    )

    cards = ", ".join(toml_string(uid) for uid in uids)
    return f"""\
# Written by tools/demo_box.py for device #{device.id} ({device.display_name}).
# Every key is explained in devices/multipas-box.example.toml.

[box]
name = {toml_string(device.name)}
data_dir = {toml_string(data_dir)}

[server]
url = {toml_string(args.url)}
key_file = {toml_string(key_file)}
heartbeat_interval = 30.0

[local_api]
host = {toml_string(args.listen)}
port = {args.port}

[[reader]]
name = "demo-till"
kind = "simulated"
role = "till"
cards = [{cards}]
interval = {args.interval}
"""


def provision(env, args, out):
    """The device, its key (reused or new) and the UIDs to tap."""
    from odoo.addons.multipas_cards.models.multipas_device import (  # noqa: PLC0415
        key_digest,
    )

    school = env.ref(DEMO_SCHOOL, raise_if_not_found=False)
    if not school:
        raise SystemExit(f"demo_box: {args.db} has no demo school: run `make demo` first.")
    admin = env.ref("base.user_admin")
    Device = env["multipas.device"].with_user(admin).with_context(lang="en_US")
    if args.device_id:
        device = Device.browse(args.device_id).exists()
        if not device:
            raise SystemExit(f"demo_box: no device #{args.device_id} in {args.db}.")
    else:
        device = Device.search(
            [("school_id", "=", school.id), ("kind", "=", "till")], order="id", limit=1
        )
        if not device:
            raise SystemExit(f"demo_box: {school.name} has no canteen till in {args.db}.")
    key_path = out / "key"
    key = key_path.read_text(encoding="utf-8").strip() if key_path.exists() else ""
    if not (key and device.key_state == "active" and device.sudo().key_hash == key_digest(key)):
        action = device.action_generate_key()
        key = action["context"]["default_key"]
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
        os.chmod(key_path, 0o600)
        print(f"demo_box: new key {device.key_prefix}… for device #{device.id} ({device.name})")
    else:
        print(
            f"demo_box: key {device.key_prefix}… of device #{device.id} ({device.name}) still active"
        )
    cards = env["multipas.card"].search(
        [("school_id", "=", device.school_id.id), ("state", "=", "issued"), ("uid", "!=", False)],
        order="id",
        limit=CARDS_TAPPED,
    )
    return device, [*cards.mapped("uid"), UNKNOWN_UID]


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        registry = open_registry(args)
    except Exception as exc:  # noqa: BLE001 - said in one sentence, as the other refusals
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SystemExit(
            f"demo_box: cannot open database {args.db} ({first_line}): run `make demo` first."
        ) from None
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        device, uids = provision(env, args, out)
        text = box_config(
            args,
            device,
            uids,
            key_file=args.key_file or str(out / "key"),
            data_dir=args.data_dir or str(out / "data"),
        )
        # the new key is committed with the cursor; the file follows it
    config_path = out / "multipas-box.toml"
    tmp = config_path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(config_path)
    print(f"demo_box: {config_path} (taps {len(uids)} cards every {args.interval:g} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
