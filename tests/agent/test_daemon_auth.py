"""The daemon's handling of refused credentials across inventory rounds: one failed login per camera, one
lockout-risk event, and a foreign server's vendor-path refusals never taken for a failed login."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import AgentConfig, BrokerConfig
from agent.credentials import Credentials
from agent.daemon import AgentDaemon
from agent.fleet import CameraFleet, camera_id_of
from agent.targets import Target
from camsim.fleet import make_camera
from protos import topics
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.keys import Keyring, SigningKey
from tests.agent.conftest import PASSWORD, make_test_camera
from tests.camsim.conftest import find_free_port, run_sim

pytestmark = pytest.mark.integration


def _events(daemon: AgentDaemon) -> list[pb.Event]:
    topic = topics.agent_topic(daemon.cfg.agent_id, "events")
    return [pb.Event.FromString(m.payload) for m in daemon.outbox.pending(1000) if m.topic == topic]


async def test_refused_credentials_are_one_login_and_one_event_over_many_rounds(tmp_path: Path) -> None:
    keyring = tmp_path / "controller-keyring.json"
    keyring.write_text(Keyring.of(SigningKey.generate().public_key).to_json())
    cfg = AgentConfig(agent_id="site-a", site="a", state_dir=tmp_path / "state", broker=BrokerConfig(),
                      controller_keyring=keyring)  # fmt: skip
    port = find_free_port()
    wrong = make_test_camera("dahua", address="127.0.21.1", port=port)
    # A foreign server answering 403 to every *.cgi: evidence that Dahua's CGI is absent, never a refusal.
    cgi = make_camera(0, "foreign", 3, "127.0.21.2", port=port, model_name="NL-IPC200")
    async with run_sim([wrong, cgi]):
        targets = [Target(wrong.network.address, port, Credentials("admin", "not-" + PASSWORD)),
                   Target(cgi.network.address, port, Credentials("admin", cgi.users[0].password))]  # fmt: skip
        fleet = CameraFleet(targets, timeout=3.0, agent_id="site-a", site="a")
        daemon = AgentDaemon(cfg, fleet)
        try:
            for _ in range(3):
                await daemon.publish_inventory(full=True)
            assert wrong.failed_logins == 1  # the first round's, never repeated
            assert cgi.failed_logins == 0
            events = [e for e in _events(daemon) if e.kind == pb.EVENT_KIND_LOCKOUT_RISK]
            wid = camera_id_of(wrong.network.address, port)
            assert [e.camera_id for e in events] == [wid]
            assert "not retried until the credentials change" in events[0].message
            assert events[0].details["error_class"] == "ERROR_CLASS_AUTH"
            # The foreign camera is read every round: its refusals on foreign paths stopped nothing.
            records = {r.camera_id: r for r in daemon._last_records}
            assert records[camera_id_of(cgi.network.address, port)].identity.model == "NL-IPC200"
            assert not records[camera_id_of(cgi.network.address, port)].errors
            # The operator fixes the credentials: read again, and a later refusal would be reported anew.
            await fleet.set_credentials(wid, Credentials("admin", PASSWORD))
            await daemon.publish_inventory(full=True)
            assert not {r.camera_id: r for r in daemon._last_records}[wid].errors
            assert wid not in daemon._auth_alerted
        finally:
            await fleet.close()
            daemon.close()
