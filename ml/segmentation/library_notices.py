"""mmseg/mmengine notices that say nothing to a Flawmap user, hidden where Flawmap builds and trains models.

Each would otherwise repeat on every training round and every model load (the demo and a worker do both
many times in one process) and bury the lines worth reading. They are hidden only around our own calls into
the library (not with a process-wide filter), so the same notices from other code still show.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# (message prefix, why it is safe to hide)
KNOWN_WARNINGS = (
    ("For binary segmentation, we suggest using", "PAL4VST's head is a 2-class softmax on purpose (clean, "
                                                  "artifact): the per-class probabilities feed uncertainty"),
    ("``build_loss`` would be deprecated soon", "raised inside mmseg's own heads, not by our configs"),
    ("The draw is False", "the visualisation hook is off on purpose: training writes no images"),
)
# mmengine logs these through its logger (not `warnings`) when a run starts.
KNOWN_LOG_MESSAGES = (
    '"FileClient" will be deprecated in future',
    '"HardDiskBackend" is the alias of "LocalBackend"',
)


class KnownLogNoticeFilter(logging.Filter):
    """For an mmengine run's own logger (one per run, so the filter can stay on it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(known in message for known in KNOWN_LOG_MESSAGES)


@contextmanager
def known_warnings_hidden() -> Iterator[None]:
    with warnings.catch_warnings():
        for prefix, _why in KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=re.escape(prefix), category=UserWarning)
        yield
