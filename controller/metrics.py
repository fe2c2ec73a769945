"""Prometheus metrics of the controller (served at /metrics)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class _Metrics:
    registry: CollectorRegistry
    messages: Counter
    malformed: Counter
    updates: Counter
    ingest_lag: Histogram
    agents_online: Gauge
    cameras_by_lifecycle: Gauge
    executions_by_state: Gauge


def _build() -> _Metrics:
    r = CollectorRegistry()
    return _Metrics(
        registry=r,
        messages=Counter("camfleet_mqtt_messages_total", "MQTT messages ingested", ["kind"], registry=r),
        malformed=Counter(
            "camfleet_mqtt_malformed_total", "Undecodable MQTT messages dropped", ["kind"], registry=r
        ),
        updates=Counter(
            "camfleet_execution_updates_total", "Execution updates applied", ["state"], registry=r
        ),
        ingest_lag=Histogram(
            "camfleet_ingest_lag_seconds",
            "Time from agent send to controller store",
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
        ),
        agents_online=Gauge("camfleet_agents_online", "Agents currently online", registry=r),
        cameras_by_lifecycle=Gauge(
            "camfleet_cameras", "Cameras by lifecycle state", ["lifecycle"], registry=r
        ),
        executions_by_state=Gauge("camfleet_executions", "Executions by state", ["state"], registry=r),
    )


METRICS = _build()
