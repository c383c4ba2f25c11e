"""Prometheus metrics of a running pipeline (`metrics: {port: 9400}`), served by prometheus-client.

Stage latency is a histogram observed per model call; everything else (frames, FPS, queue depth,
drops, reconnects, outbox size, stages' own samples such as line crossings) is read from the runner
when Prometheus scrapes, so the hot path pays nothing for it. Labels are source ids and stage/sink ids, never URLs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.config import MetricsConfig
    from pipeline.protocol import PipelineAPI
    from pipeline.stage import MetricSample

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56)


class _PipelineCollector(Collector):
    """Reads the pipeline's counters at scrape time (through the Pipeline protocol: any runner)."""

    def __init__(self, pipeline: PipelineAPI) -> None:
        self.pipeline = pipeline
        self.started = time.monotonic()

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats = self.pipeline.run_stats
        frames = CounterMetricFamily("argus_frames", "Frames processed", labels=["source"])
        for source_id, count in list(stats.frames_per_source.items()):
            frames.add_metric([source_id], count)
        yield frames
        elapsed = max(1e-9, time.monotonic() - self.started)
        yield GaugeMetricFamily("argus_fps", "Frames per second since the run started", value=stats.frames / elapsed)
        snapshot = self.pipeline.stats()
        depth = GaugeMetricFamily("argus_queue_depth", "Frames waiting in a source's queue", labels=["source"])
        dropped = CounterMetricFamily("argus_dropped_frames", "Frames dropped by live sources", labels=["source"])
        for source_id, source in snapshot["sources"].items():
            if "queued" in source:  # streams read in this process (not those on Ray actors)
                depth.add_metric([source_id], source["queued"])
                dropped.add_metric([source_id], source["dropped"])
        yield depth
        yield dropped
        reconnects = CounterMetricFamily("argus_reconnects", "Live stream reconnections", labels=["source"])
        for source_id, count in list(stats.reconnects.items()):
            reconnects.add_metric([source_id], count)
        yield reconnects
        outbox = GaugeMetricFamily("argus_outbox_events", "Events waiting for delivery", labels=["sink"])
        for sink_id, sink in snapshot["sinks"].items():
            if "outbox" in sink:
                outbox.add_metric([sink_id], float(sink["outbox"]))
        yield outbox
        yield from stage_families(getattr(self.pipeline, "metric_samples", list)())


def stage_families(samples: list[MetricSample]) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    """Stages' own samples (e.g. zones' crossings) grouped into one family per metric name."""
    families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
    for sample in samples:
        family = families.get(sample.name)
        if family is None:
            kind = CounterMetricFamily if sample.kind == "counter" else GaugeMetricFamily
            family = families[sample.name] = kind(sample.name, sample.help, labels=list(sample.labels))
        family.add_metric(list(sample.labels.values()), sample.value)
    yield from families.values()


class Metrics:
    """A registry for one pipeline, optionally served over HTTP."""

    def __init__(self, pipeline: PipelineAPI) -> None:
        self.registry = CollectorRegistry()
        self.stage_latency = Histogram("argus_stage_latency_seconds", "Wall time of one stage call (a batch)",
                                       ["stage"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_PipelineCollector(pipeline))
        self._server = None

    def observe(self, stage_id: str, seconds: float) -> None:
        self.stage_latency.labels(stage_id).observe(seconds)

    def serve_config(self, config: MetricsConfig) -> None:
        """Serve on the configured address; a port in use is a one-line ConfigError."""
        try:
            self.serve(config.port, config.host)
        except OSError as exc:
            raise ConfigError([f"metrics.port: cannot listen on {config.host}:{config.port}: "
                               f"{exc.strerror or exc}"]) from None

    def serve(self, port: int, host: str = "0.0.0.0") -> None:
        """Start the /metrics HTTP endpoint in a daemon thread."""
        self._server, _ = start_http_server(port, addr=host, registry=self.registry)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
