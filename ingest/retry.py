"""How often and how patiently a failed request is tried again.

Shared by the job (which retries chunks) and the sources (caveclient's own session retries), so
it sits below both: a source never reaches up into the job for it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter, so parallel workers do not retry in step."""

    attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
