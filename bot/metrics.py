"""What an instance counts for Prometheus (`/metrics`): updates handled and failed, how long
handlers take, reminders sent and updates waiting. One registry per Application, so that two
tests in one process count apart; the bots of one deployment (bot/fleet.py) share one, and
`/metrics` counts them all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Handler latency buckets in seconds: a tap answered within a second is what cadres expect.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _depths: list[Callable[[], float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        r = self.registry
        self.updates_handled = Counter(
            "hucha_updates_handled", "Updates handled to the end", registry=r
        )
        self.updates_failed = Counter(
            "hucha_updates_failed", "Updates whose handler failed (the person was told)", registry=r
        )
        self.handler_seconds = Histogram(
            "hucha_handler_seconds",
            "Time from taking an update to having handled it",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.reminders_sent = Counter(
            "hucha_reminders_sent", "Reminder messages Telegram accepted", registry=r
        )
        self.queue_depth = Gauge(
            "hucha_updates_in_hand", "Updates received and not yet handled here", registry=r
        )

    def measure_queue(self, depth: Callable[[], float]) -> None:
        """Count the updates in hand of one more intake (several bots share one registry)."""
        self._depths.append(depth)
        depths = list(self._depths)
        self.queue_depth.set_function(lambda: sum(measure() for measure in depths))

    def text(self) -> bytes:
        """The Prometheus text exposition of everything counted."""
        return generate_latest(self.registry)
