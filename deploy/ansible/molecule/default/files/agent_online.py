"""Molecule verify: as the controller (its certificate), wait for an agent's retained online AgentStatus."""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys

import aiomqtt
from google.protobuf.json_format import MessageToDict

from protos import topics
from protos.camfleet.v1 import camfleet_pb2 as pb


async def wait_online(args: argparse.Namespace) -> dict[str, object]:
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.load_cert_chain(args.cert, args.key)
    deadline = asyncio.get_running_loop().time() + args.timeout
    last: dict[str, object] = {}
    while True:
        try:
            async with aiomqtt.Client(args.host, args.port, tls_context=ctx, identifier="molecule-verify",
                                      timeout=10) as client:  # fmt: skip
                await client.subscribe(topics.agent_topic(args.agent, "status"), qos=1, timeout=10)
                async with asyncio.timeout(max(1.0, deadline - asyncio.get_running_loop().time())):
                    async for m in client.messages:
                        st = pb.AgentStatus()
                        st.ParseFromString(
                            bytes(m.payload) if isinstance(m.payload, (bytes, bytearray)) else b""
                        )
                        last = MessageToDict(st, preserving_proto_field_name=True)
                        if st.online:
                            return last
        except (aiomqtt.MqttError, TimeoutError) as exc:
            if asyncio.get_running_loop().time() >= deadline:
                raise SystemExit(
                    f"agent {args.agent} not online in {args.timeout}s ({exc}); last {last}"
                ) from exc
            await asyncio.sleep(0.5)


def main() -> int:
    p = argparse.ArgumentParser()
    for name in ("host", "ca", "cert", "key", "agent"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=30.0)
    print(json.dumps(asyncio.run(wait_online(p.parse_args())), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
