"""The embedded single-machine broker (amqtt, MQTT 3.1.1 only) used when no broker is configured."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedBroker:
    """amqtt on loopback only, without TLS: for one machine where controller and agents share 127.0.0.1."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        if not host.startswith("127.") and host != "::1":
            raise ValueError("the embedded broker listens on loopback only; configure a real broker for more")
        self.host, self.port = host, port
        self._broker: Any = None

    async def start(self) -> None:
        from amqtt.broker import Broker  # imported here: only the embedded default needs amqtt

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "sys_interval": 0,
            "auth": {"allow-anonymous": True, "plugins": ["auth_anonymous"]},
            "topic-check": {"enabled": False},
        }
        self._broker = Broker(config)
        await self._broker.start()
        log.info("embedded MQTT broker (amqtt) on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
