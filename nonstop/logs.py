"""structlog set-up: a human console on a terminal, JSON lines for workflow pods and CI."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

__all__ = ["LogFormat", "configure_logging", "get_logger"]

LogFormat = Literal["auto", "console", "json"]


def configure_logging(*, log_format: LogFormat = "auto", debug: bool = False) -> None:
    """Route structlog to stderr: coloured console on a TTY (or when asked), JSON lines otherwise."""
    level = logging.DEBUG if debug else logging.INFO
    if log_format == "auto":
        log_format = "console" if sys.stderr.isatty() else "json"
    renderer: structlog.typing.Processor
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A logger bound to a component name; configure_logging decides where it goes."""
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(component=name)
    return logger
