"""Prometheus metrics: request latency by operation, observed as requests are answered, and
the fleet (runners, jobs, long polls, the key pool), counted when /metrics is scraped."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from runnerhub.domain.fleet import Fleet

# Long polls are held up to 50 s: the top buckets keep them apart from ordinary requests.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """One per app (tests run several in a process), so never the global registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "runnerhub_request_duration_seconds",
            "Time from a request's arrival to its answer, by GitHub operation id and status.",
            ["operation", "status"],
            registry=self.registry,
            buckets=BUCKETS,
        )

    def observe(self, operation: str, status: int, seconds: float) -> None:
        self.requests.labels(operation, str(status)).observe(seconds)

    def exposition(self, fleet: Fleet, long_polls: int, keys: int, key_pool_size: int) -> bytes:
        scraped = CollectorRegistry(auto_describe=True)
        scraped.register(_FleetCollector(fleet, long_polls, keys, key_pool_size))
        return generate_latest(self.registry) + generate_latest(scraped)


class _FleetCollector(Collector):
    def __init__(self, fleet: Fleet, long_polls: int, keys: int, key_pool_size: int) -> None:
        self.fleet, self.long_polls = fleet, long_polls
        self.keys, self.key_pool_size = keys, key_pool_size

    def collect(self) -> Iterator[Metric]:
        runners = GaugeMetricFamily(
            "runnerhub_runners",
            "Registered runners by the kind of scope they belong to, status and busy.",
            labels=["scope", "status", "busy"],
        )
        busy = 0
        for row in self.fleet.runners:
            status = "online" if row.online else "offline"
            runners.add_metric([row.kind, status, str(row.busy).lower()], row.runners)
            busy += row.runners if row.busy else 0
        yield runners
        yield GaugeMetricFamily("runnerhub_busy_runners", "Runners running a job.", value=busy)

        jobs = GaugeMetricFamily(
            "runnerhub_jobs",
            "Jobs not yet completed: pending (waiting for needs), waiting (for an environment), "
            "queued, in_progress.",
            labels=["status"],
        )
        oldest = GaugeMetricFamily(
            "runnerhub_oldest_job_age_seconds",
            "How long the oldest job in each unfinished state has existed.",
            labels=["status"],
        )
        for job in self.fleet.jobs:
            jobs.add_metric([job.status], job.jobs)
            if job.oldest is not None:
                age = (self.fleet.now - job.oldest).total_seconds()
                oldest.add_metric([job.status], max(age, 0.0))
        yield jobs
        yield oldest
        deliveries = GaugeMetricFamily(
            "runnerhub_webhook_deliveries",
            "Webhook deliveries kept, by outcome: pending (to send or retry), delivered, failed.",
            labels=["state"],
        )
        for state in ("pending", "delivered", "failed"):
            deliveries.add_metric([state], self.fleet.deliveries.get(state, 0))
        yield deliveries
        yield GaugeMetricFamily(
            "runnerhub_long_polls", "Runner long polls this process holds.", value=self.long_polls
        )
        yield GaugeMetricFamily(
            "runnerhub_runner_key_pool_keys", "RSA keys ready for JIT configs.", value=self.keys
        )
        yield GaugeMetricFamily(
            "runnerhub_runner_key_pool_size",
            "How many keys the pool keeps ready.",
            value=self.key_pool_size,
        )
