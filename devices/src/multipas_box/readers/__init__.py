"""Reader drivers, one module per kind; each imports its hardware library lazily."""

from __future__ import annotations

import importlib

from ..config import ReaderConfig
from .base import OnUid, Reader

MODULES = {
    "pcsc": ("multipas_box.readers.pcsc", "PcscReader"),
    "keyboard": ("multipas_box.readers.keyboard", "KeyboardReader"),
    "serial": ("multipas_box.readers.serial", "SerialReader"),
    "simulated": ("multipas_box.readers.simulated", "SimulatedReader"),
}


def reader_class(kind: str) -> type[Reader]:
    module, name = MODULES[kind]
    return getattr(importlib.import_module(module), name)


def make_reader(cfg: ReaderConfig, on_uid: OnUid) -> Reader:
    return reader_class(cfg.kind)(cfg, on_uid)


__all__ = ["MODULES", "Reader", "make_reader", "reader_class"]
