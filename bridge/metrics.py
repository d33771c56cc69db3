"""Prometheus metrics, read from the ledger when they are asked for.

prometheus_client is the one gateway: `bridge watch --metrics-port PORT` serves them over
HTTP, `bridge metrics --textfile PATH` writes them for node_exporter's textfile collector
after a cron run. Nothing is counted in memory: every scrape reads the ledger's tallies
(files by flow and state, rows, issues by code, bytes read, the last success, the last
pass), so the figures are the same whichever process asks, and survive restarts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client import Metric

    from bridge.config import Config
    from bridge.ledger import Tallies


class LedgerCollector(Collector):
    """One reading of the ledger per scrape; ``connections`` names each flow's source."""

    def __init__(self, read: Callable[[], Tallies], connections: dict[str, str],
                 targets: dict[tuple[str, str], str]) -> None:
        self.read = read
        self.connections = connections  # flow -> its source's connection
        self.targets = targets  # (flow, target) -> the target's connection

    def collect(self) -> Iterator[Metric]:
        t = self.read()
        yield _family(GaugeMetricFamily, "bridge_files",
                      "Files in the ledger, by flow and state", ["flow", "state"],
                      ((list(k), n) for k, n in t.files.items()))
        yield _family(CounterMetricFamily, "bridge_rows",
                      "Rows read from sources and written to targets", ["flow", "direction"],
                      ((([flow, way], n) for flow, pair in t.rows.items()
                        for way, n in zip(("read", "written"), pair, strict=True))))
        yield _family(CounterMetricFamily, "bridge_issues", "Issues recorded, by flow and code",
                      ["flow", "code"], ((list(k), n) for k, n in t.issues.items()))
        yield _family(CounterMetricFamily, "bridge_bytes_read",
                      "Bytes taken from each flow's source", ["flow", "connection"],
                      (([flow, self.connections.get(flow, "")], n)
                       for flow, n in t.bytes_read.items()))
        yield _family(CounterMetricFamily, "bridge_bytes_written",
                      "Bytes of the outputs written to each target",
                      ["flow", "target", "connection"],
                      (([flow, target, self.targets.get((flow, target), "")], n)
                       for (flow, target), n in t.bytes_written.items()))
        yield _family(GaugeMetricFamily, "bridge_last_success_timestamp_seconds",
                      "When the flow's last file was done (Unix time)", ["flow"],
                      (([flow], when) for flow, when in t.last_success.items()))
        if t.last_pass is not None:
            started, ended = t.last_pass
            yield GaugeMetricFamily("bridge_last_pass_duration_seconds",
                                    "How long the last finished pass took",
                                    value=ended - started)
            yield GaugeMetricFamily("bridge_last_pass_timestamp_seconds",
                                    "When the last finished pass ended (Unix time)",
                                    value=ended)


def _family(kind: type[GaugeMetricFamily] | type[CounterMetricFamily], name: str, doc: str,
            labels: list[str], samples: Iterable[tuple[list[str], float]]) -> Metric:
    """One metric family with its samples, in the order of their labels."""
    family = kind(name, doc, labels=labels)
    for values, n in sorted(samples):
        family.add_metric(values, n)
    return family


def registry(cfg: Config) -> CollectorRegistry:
    """A registry whose every collection opens the configuration's ledger, reads it, and
    closes it (a scrape runs in the HTTP server's own thread). A SQLite ledger missing
    where the work area used one is a configuration error, never made again empty."""
    from bridge.engine.context import open_config_ledger

    def read() -> Tallies:
        ledger = open_config_ledger(cfg)
        try:
            return ledger.tallies()
        finally:
            ledger.close()

    reg = CollectorRegistry(auto_describe=False)
    from bridge.engine.render import target_name

    reg.register(LedgerCollector(
        read, {name: f.source.connection for name, f in cfg.flows.items()},
        {(name, target_name(f, i)): t.connection for name, f in cfg.flows.items()
         for i, t in enumerate(f.targets)}))
    return reg


def write_textfile(cfg: Config, path: Path) -> None:
    """The metrics in the text format, written atomically (node_exporter may read any time)."""
    from prometheus_client import write_to_textfile

    write_to_textfile(str(path), registry(cfg))


def serve(cfg: Config, port: int, address: str = "127.0.0.1") -> None:
    """Serve /metrics on ``address:port`` from a daemon thread, for as long as the process
    lives."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=address, registry=registry(cfg))
