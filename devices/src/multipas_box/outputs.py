"""Turnstile outputs: the relay or controller a local "allow" opens.

:meth:`Output.open` only puts a request in the output's own queue and returns; a worker
thread per output drives the hardware, so a slow or absent relay never delays a
decision or the next card. Requests that pile up while a pulse is running are merged
into one more pulse.

Kinds:
- ``simulated``: counts the openings (demos, tests, the status page);
- ``serial``: writes ``open_command``, waits ``pulse`` seconds, writes ``close_command``
  (hex bytes; the defaults drive the common CH340 one-channel USB relay "LCUS-1");
- ``http``: one request to a controller's URL (``method``, ``body``, ``headers``); the
  controller does its own pulse.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from .config import OutputConfig

log = logging.getLogger("multipas_box.output")


class Output:
    kind = ""

    def __init__(self, cfg: OutputConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.state = "ok"
        self.detail = ""
        self.openings = 0
        self.failures = 0
        self.last_opened: float | None = None
        self.history: collections.deque[float] = collections.deque(maxlen=100)
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"output-{self.name}", daemon=True)
        self._idle = threading.Event()
        self._idle.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def open(self, info: dict[str, Any] | None = None) -> None:
        """Ask for one opening; returns at once."""
        self._idle.clear()
        self._queue.put(info or {})

    def wait_idle(self, timeout: float) -> bool:
        """For tests: wait until every requested opening has been driven."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self.close()
                return
            # merge what piled up meanwhile into this pulse
            stop = False
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
            try:
                self.pulse(item)
                self.openings += 1
                self.last_opened = time.time()
                self.history.append(self.last_opened)
                if self.state != "ok":
                    log.info("output %s works again", self.name)
                self.state, self.detail = "ok", ""
            except Exception as exc:  # the worker must survive any hardware error
                self.failures += 1
                self.state, self.detail = "error", f"{type(exc).__name__}: {exc}"
                log.error("output %s could not open: %s", self.name, self.detail)
            if self._queue.empty():
                self._idle.set()
            if stop:
                self.close()
                return

    def pulse(self, info: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the hardware at shutdown."""

    def status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "detail": self.detail,
            "openings": self.openings,
            "failures": self.failures,
            "last_opened": self.last_opened,
        }


class SimulatedOutput(Output):
    kind = "simulated"

    def pulse(self, info: dict[str, Any]) -> None:
        log.info("output %s: open for %.1f s (simulated)", self.name, self.cfg.pulse)


class SerialOutput(Output):
    kind = "serial"

    def __init__(self, cfg: OutputConfig) -> None:
        super().__init__(cfg)
        self._port: Any = None

    def _ensure_port(self) -> Any:
        if self._port is None:
            import serial  # noqa: PLC0415

            self._port = serial.serial_for_url(
                self.cfg.device, baudrate=self.cfg.baudrate, timeout=1, write_timeout=1
            )
        return self._port

    def pulse(self, info: dict[str, Any]) -> None:
        try:
            port = self._ensure_port()
            port.write(bytes.fromhex(self.cfg.open_command))
            port.flush()
            time.sleep(self.cfg.pulse)
            if self.cfg.close_command:
                port.write(bytes.fromhex(self.cfg.close_command))
                port.flush()
        except Exception:
            self.close()  # reopen on the next pulse (USB relay unplugged and back)
            raise

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception:  # noqa: BLE001 - already gone
                pass


class HttpOutput(Output):
    kind = "http"

    def pulse(self, info: dict[str, Any]) -> None:
        body = self.cfg.body.encode("utf-8") if self.cfg.body else None
        request = urllib.request.Request(
            self.cfg.url, data=body, method=self.cfg.method.upper(), headers=self.cfg.headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.cfg.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{self.cfg.url} answered {exc.code}") from None


KINDS: dict[str, type[Output]] = {
    "simulated": SimulatedOutput,
    "serial": SerialOutput,
    "http": HttpOutput,
}


def make_output(cfg: OutputConfig) -> Output:
    return KINDS[cfg.kind](cfg)
