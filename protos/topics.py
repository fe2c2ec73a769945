"""The MQTT topic tree of DESIGN.md §3: the only place where topic strings are built or parsed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

PREFIX = "camfleet/v1"
AgentTopicKind = Literal["status", "cmd", "result", "inventory", "events", "census"]
AGENT_TOPIC_KINDS: tuple[str, ...] = get_args(AgentTopicKind)

# An agent id is the CN of its client certificate and a topic level: no wildcards, no separators.
_AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class TopicError(ValueError):
    """A topic or agent id that is not part of the camfleet tree."""


@dataclass(frozen=True)
class AgentTopic:
    agent_id: str
    kind: AgentTopicKind


def validate_agent_id(agent_id: str) -> str:
    if not _AGENT_ID.match(agent_id):
        raise TopicError(f"invalid agent id {agent_id!r}: use 1-64 of A-Z a-z 0-9 _ . - (first alphanumeric)")
    return agent_id


def agent_topic(agent_id: str, kind: AgentTopicKind) -> str:
    if kind not in AGENT_TOPIC_KINDS:
        raise TopicError(f"unknown agent topic kind {kind!r}")
    return f"{PREFIX}/agents/{validate_agent_id(agent_id)}/{kind}"


def agent_subtree(agent_id: str) -> str:
    """Everything one agent may publish to (its ACL write pattern)."""
    return f"{PREFIX}/agents/{validate_agent_id(agent_id)}/#"


def all_agents(kind: AgentTopicKind, share_group: str | None = None) -> str:
    """Subscription for one kind from every agent; with a group, an MQTT 5 shared subscription."""
    if kind not in AGENT_TOPIC_KINDS:
        raise TopicError(f"unknown agent topic kind {kind!r}")
    topic = f"{PREFIX}/agents/+/{kind}"
    if share_group is not None:
        if not share_group or any(c in share_group for c in "/+#"):
            raise TopicError(f"invalid shared-subscription group {share_group!r}")
        topic = f"$share/{share_group}/{topic}"
    return topic


def controller_status() -> str:
    return f"{PREFIX}/controller/status"


def acl_pattern(kind: AgentTopicKind) -> str:
    """Mosquitto ACL pattern form, %u being the username (= certificate CN = agent id)."""
    return f"{PREFIX}/agents/%u/{kind}"


def parse_agent_topic(topic: str) -> AgentTopic:
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != PREFIX or parts[2] != "agents":
        raise TopicError(f"not a camfleet agent topic: {topic!r}")
    agent_id, kind = parts[3], parts[4]
    validate_agent_id(agent_id)
    if kind not in AGENT_TOPIC_KINDS:
        raise TopicError(f"unknown agent topic kind in {topic!r}")
    return AgentTopic(agent_id=agent_id, kind=kind)  # type: ignore[arg-type]  # checked just above
