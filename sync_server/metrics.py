"""Process-local counters and a latency histogram, rendered in Prometheus text format."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.counters: dict[str, int] = defaultdict(int)
        self.sync_buckets = [0] * (len(_BUCKETS) + 1)
        self.sync_sum = 0.0
        self.sync_count = 0
        #: values read when rendered (open connections: set by the process that serves)
        self.gauges: dict[str, Callable[[], float]] = {}

    def observe_request(self, route: str, status: int) -> None:
        self.requests[(route, status)] += 1

    def observe_sync(self, seconds: float) -> None:
        self.sync_sum += seconds
        self.sync_count += 1
        for i, bound in enumerate(_BUCKETS):
            if seconds <= bound:
                self.sync_buckets[i] += 1
                return
        self.sync_buckets[-1] += 1

    def render(self) -> str:
        lines = ["# TYPE recap_requests_total counter"]
        for (route, status), n in sorted(self.requests.items()):
            lines.append(f'recap_requests_total{{route="{route}",status="{status}"}} {n}')
        for name, n in sorted(self.counters.items()):
            lines.append(f"# TYPE recap_{name}_total counter")
            lines.append(f"recap_{name}_total {n}")
        for name, read in sorted(self.gauges.items()):
            lines.append(f"# TYPE recap_{name} gauge")
            lines.append(f"recap_{name} {read()}")
        lines.append("# TYPE recap_sync_seconds histogram")
        cumulative = 0
        for bound, n in zip(_BUCKETS, self.sync_buckets, strict=False):
            cumulative += n
            lines.append(f'recap_sync_seconds_bucket{{le="{bound}"}} {cumulative}')
        lines.append(f'recap_sync_seconds_bucket{{le="+Inf"}} {self.sync_count}')
        lines.append(f"recap_sync_seconds_sum {self.sync_sum:.6f}")
        lines.append(f"recap_sync_seconds_count {self.sync_count}")
        return "\n".join(lines) + "\n"
