"""The topic tree: built and parsed in one place, and never accepting wildcards in an agent id."""

from __future__ import annotations

import pytest

from protos import topics


def test_round_trip() -> None:
    for kind in topics.AGENT_TOPIC_KINDS:
        t = topics.agent_topic("site-a.vlan10", kind)  # type: ignore[arg-type]
        assert t == f"camfleet/v1/agents/site-a.vlan10/{kind}"
        parsed = topics.parse_agent_topic(t)
        assert (parsed.agent_id, parsed.kind) == ("site-a.vlan10", kind)


@pytest.mark.parametrize("bad", ["", "+", "#", "a/b", "a+b", "-lead", "x" * 65, "a b"])
def test_bad_agent_ids(bad: str) -> None:
    with pytest.raises(topics.TopicError):
        topics.agent_topic(bad, "cmd")


@pytest.mark.parametrize(
    "topic",
    ["camfleet/v1/agents/a/unknown", "camfleet/v2/agents/a/cmd", "camfleet/v1/agents/a", "x/y/agents/a/cmd"],
)
def test_parse_rejects_foreign_topics(topic: str) -> None:
    with pytest.raises(topics.TopicError):
        topics.parse_agent_topic(topic)


def test_subscriptions_and_acl() -> None:
    assert topics.all_agents("inventory") == "camfleet/v1/agents/+/inventory"
    assert topics.all_agents("result", "controllers") == "$share/controllers/camfleet/v1/agents/+/result"
    assert topics.acl_pattern("cmd") == "camfleet/v1/agents/%u/cmd"
    assert topics.agent_subtree("a1") == "camfleet/v1/agents/a1/#"
    assert topics.controller_status() == "camfleet/v1/controller/status"
    with pytest.raises(topics.TopicError):
        topics.all_agents("result", "bad/group")
