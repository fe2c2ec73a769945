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
    quarantined: Counter
    quarantine_size: Gauge
    hub_lag: Gauge
    hub_backlog: Gauge
    hub_connected: Gauge


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
        quarantined=Counter(
            "camfleet_ingest_quarantined_total",
            "Agent messages quarantined (not applied) by kind and why",
            ["kind", "reason"],
            registry=r,
        ),
        quarantine_size=Gauge("camfleet_ingest_quarantine", "Messages in the quarantine table", registry=r),
        hub_lag=Gauge(
            "camfleet_hub_lag_seconds", "Age of the latest agent message when the hub applied it", registry=r
        ),
        hub_backlog=Gauge(
            "camfleet_hub_backlog_messages", "Messages received and waiting for the hub", registry=r
        ),
        hub_connected=Gauge(
            "camfleet_hub_connected", "1 while the hub is connected to the broker", registry=r
        ),
    )


METRICS = _build()
