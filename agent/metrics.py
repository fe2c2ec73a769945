"""Prometheus metrics of the agent, served on a local port (127.0.0.1 only)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


@dataclass
class AgentMetrics:
    registry: CollectorRegistry
    cameras: Gauge
    connected: Gauge
    outbox: Gauge
    commands: Counter
    executions: Counter

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        # Loopback by default: the node exporter or a local Prometheus agent scrapes it; nothing else needs it.
        start_http_server(port, addr=host, registry=self.registry)


def build_metrics() -> AgentMetrics:
    r = CollectorRegistry()
    return AgentMetrics(
        registry=r,
        cameras=Gauge("camfleet_agent_cameras", "Cameras this agent manages", registry=r),
        connected=Gauge("camfleet_agent_broker_connected", "1 while connected to the broker", registry=r),
        outbox=Gauge(
            "camfleet_agent_outbox_messages", "Messages waiting for a broker acknowledgement", registry=r
        ),
        commands=Counter("camfleet_agent_commands_total", "Commands received", ["result"], registry=r),
        executions=Counter("camfleet_agent_executions_total", "Camera executions", ["state"], registry=r),
    )
