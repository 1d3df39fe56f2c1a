"""``multipas-box``: run the box, check a configuration, or list the devices it sees."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from . import __version__
from .config import READER_KINDS, Config, ConfigError, load

DEFAULT_CONFIG = "/etc/multipas-box/multipas-box.toml"

log = logging.getLogger("multipas_box")


def _setup_logging(cfg: Config) -> None:
    handler: logging.Handler
    if cfg.box.log_file:
        Path(cfg.box.log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(cfg.box.log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(cfg.box.log_level.upper())


def _daemonize() -> None:
    """Classic double fork: detach from the terminal and the session."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    with open(os.devnull, "rb") as null_in, open(os.devnull, "ab") as null_out:
        os.dup2(null_in.fileno(), 0)
        os.dup2(null_out.fileno(), 1)
        os.dup2(null_out.fileno(), 2)


def discover() -> int:
    from .readers import reader_class  # noqa: PLC0415

    for kind in READER_KINDS:
        try:
            found = reader_class(kind).discover()
        except Exception as exc:  # noqa: BLE001 - one kind failing must not hide the others
            found = [f"(cannot look: {type(exc).__name__}: {exc})"]
        sys.stdout.write(f"{kind}:\n")
        for name in found or ["(none)"]:
            sys.stdout.write(f"  {name}\n")
    return 0


def run(cfg: Config) -> int:
    from .box import Box  # noqa: PLC0415 - keeps --help and --check-config light

    box = Box(cfg)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        box.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    box.run_forever()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="multipas-box",
        description="Multipas card-reader box: readers, offline journal, turnstile, sync with Odoo.",
    )
    parser.add_argument(
        "-c", "--config", default=DEFAULT_CONFIG, help=f"TOML file (default {DEFAULT_CONFIG})"
    )
    parser.add_argument(
        "--foreground", action="store_true", help="stay attached (systemd, containers, a terminal)"
    )
    parser.add_argument("--check-config", action="store_true", help="validate the file and exit")
    parser.add_argument(
        "--discover", action="store_true", help="list the readers and ports this machine has"
    )
    parser.add_argument("--version", action="version", version=f"multipas-box {__version__}")
    args = parser.parse_args(argv)

    if args.discover:
        return discover()
    try:
        cfg = load(args.config)
        cfg.server_key()  # a key_file that cannot be read is a configuration error
    except ConfigError as exc:
        sys.stderr.write(f"multipas-box: {exc}\n")
        return 2
    if args.check_config:
        sys.stdout.write(
            f"{args.config}: ok ({len(cfg.readers)} reader(s), {len(cfg.outputs)} output(s))\n"
        )
        return 0
    if cfg.server.url and not cfg.server_key():
        sys.stderr.write("multipas-box: server.url is set but no device key (key or key_file)\n")
        return 2
    if not args.foreground:
        if not cfg.box.log_file:
            sys.stderr.write(
                "multipas-box: in the background, set box.log_file (or use --foreground)\n"
            )
            return 2
        _daemonize()
    _setup_logging(cfg)
    return run(cfg)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
