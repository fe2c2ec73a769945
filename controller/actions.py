"""The one place where an action's parameters become the signed `Action`: strict models, builder, description.

The REST API, the dashboard forms, fleetctl (through the API) and the campaign engine all come through here,
so the same input means the same thing everywhere: `"false"` is not a boolean, an unknown key is an error
(`featurez` once signed `features: []`, which the agent reads as *every* feature), and the description an
approver sees is made from the very `Action` the agents will receive.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationInfo,
)

from protos.camfleet.v1 import camfleet_pb2 as pb

ActionName = Literal["inventory", "disable_cloud", "restrict_network", "decommission", "rollback", "reboot"]
ACTIONS: tuple[str, ...] = get_args(ActionName)
# The feature names the agent's disable_cloud knows (agent/actions/cloud.py: ONVIF_CLOUD short names and
# VENDOR_CLOUD). An unknown name would select nothing on the agent; it is an error here instead.
CLOUD_FEATURES = (
    "dyndns", "zero_configuration", "discovery_mode",
    "ezviz", "ehome", "upnp_portmap", "upnp", "ddns", "t2u", "remote_service",
)  # fmt: skip
# ONVIF's three, and Hikvision's SDK service (adminAccesses DEV_MANAGE, port 8000) its recorders pull streams over.
PROTOCOLS = ("HTTP", "HTTPS", "RTSP", "DEV_MANAGE")
MAX_LIST = 256


class Strict(BaseModel):
    """Unknown keys and wrong types are errors; nothing is coerced (`"false"` is not a boolean)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def _network(v: str) -> str:
    """One address or CIDR network, exactly: `10.1.2.3/24` (host bits set) is refused rather than widened to
    the whole /24 behind the operator's back, and a /0 lets every address in (no restriction at all)."""
    try:
        given = ipaddress.ip_interface(v.strip())
    except ValueError as exc:
        raise ValueError(f"{v!r} is not an address or CIDR range") from exc
    net = given.network
    if given.ip != net.network_address:
        raise ValueError(f"{v!r} has host bits set: the network is {net}, the one address "
                         f"{given.ip}/{net.max_prefixlen}")  # fmt: skip
    if net.prefixlen == 0:
        raise ValueError(f"{v!r} lets every address in: that restricts nothing")
    return str(net)


def _host(v: str) -> str:
    v = v.strip()
    if v:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            labels = v.rstrip(".").split(".")
            if not all(1 <= len(x) <= 63 and x.replace("-", "").isalnum() for x in labels):
                raise ValueError(f"{v!r} is neither an address nor a host name") from None
    return v


def _feature(v: str) -> str:
    name = v.strip().lower()
    if name not in CLOUD_FEATURES:
        raise ValueError(f"unknown feature {v!r}; one of {', '.join(CLOUD_FEATURES)}")
    return name


def _protocol(v: str) -> str:
    name = v.strip().upper()
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {v!r}; one of {', '.join(PROTOCOLS)}")
    return name


Network = Annotated[str, StringConstraints(max_length=64), AfterValidator(_network)]
Feature = Annotated[str, StringConstraints(max_length=64), AfterValidator(_feature)]
Protocol = Annotated[str, StringConstraints(max_length=16), AfterValidator(_protocol)]
Host = Annotated[str, StringConstraints(max_length=253), AfterValidator(_host)]


class InventoryParams(Strict):
    include_vendor_apis: bool = Field(
        True, description="also read the vendor HTTP APIs (ISAPI, Dahua CGI, VAPIX)"
    )


class DisableCloudParams(Strict):
    features: list[Feature] = Field(
        default_factory=list, max_length=len(CLOUD_FEATURES),
        description="only these cloud features; empty or absent means every one the camera has",
    )  # fmt: skip


NO_ALLOW = (
    "required: the addresses that must still reach the cameras (the recorder, the VMS). To send none, say "
    "agent_only: true (fleetctl --agent-only): each agent then keeps only its site's cameras.network_allow, "
    "and where that is empty lets itself alone in, which cuts the recorder off"
)


def _allow_or_agent_only(allow: list[str], info: ValidationInfo) -> list[str]:
    # agent_only is declared before allow, so it is validated first and is here (absent if it was invalid).
    agent_only = info.data.get("agent_only")
    if not allow and agent_only is False:
        raise ValueError(NO_ALLOW)
    if allow and agent_only:
        raise ValueError("agent_only: true sends no allow list; drop the allow list, or agent_only")
    return allow


class RestrictNetworkParams(Strict):
    # The agent would fall back on its site's cameras.network_allow, but the controller cannot see that: an
    # operator here names the addresses, or says agent_only, and learns it now instead of from REJECTED results.
    agent_only: bool = Field(
        False,
        description="send no allow list, explicitly: each agent keeps only its site's cameras.network_allow, "
        "and where that is empty lets itself alone reach the camera (cutting the recorder off)",
    )
    allow: Annotated[list[Network], AfterValidator(_allow_or_agent_only)] = Field(
        default_factory=list, max_length=MAX_LIST, validate_default=True,
        description="addresses or networks that may still reach the camera (the recorder, the VMS); the agent is "
                    "always added. Required unless agent_only is true",
    )  # fmt: skip
    ntp_server: Host = Field("", description="NTP server to set (empty: leave NTP as it is)")
    keep_protocols: list[Protocol] = Field(
        default_factory=lambda: ["RTSP"],
        min_length=1,
        max_length=len(PROTOCOLS),
        description="protocols left on",
    )
    clear_gateway: bool = Field(True, description="remove the default gateway")
    clear_dns: bool = Field(True, description="remove the DNS servers")
    accept_recording_gap: bool = Field(
        False,
        description="go ahead even where the change cuts a camera off its recorder (controller.recorders)",
    )


class DecommissionParams(Strict):
    mode: Literal["soft", "hard"] = Field("soft", description="factory reset: soft keeps network settings")
    wipe_users: bool = Field(False, description="delete the camera's user accounts before the reset")


class RollbackParams(Strict):
    snapshot_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="the command whose snapshots are restored (its command_id)"
    )


class RebootParams(Strict):
    pass


PARAMS: dict[str, type[Strict]] = {
    "inventory": InventoryParams,
    "disable_cloud": DisableCloudParams,
    "restrict_network": RestrictNetworkParams,
    "decommission": DecommissionParams,
    "rollback": RollbackParams,
    "reboot": RebootParams,
}
ActionParams = (
    InventoryParams
    | DisableCloudParams
    | RestrictNetworkParams
    | DecommissionParams
    | RollbackParams
    | RebootParams
)
_ADAPTERS: dict[str, TypeAdapter[Any]] = {name: TypeAdapter(model) for name, model in PARAMS.items()}


def parse_params(action: str, params: Any) -> ActionParams:
    """Validate the parameters of `action` (pydantic.ValidationError names the field; ValueError for an
    unknown action)."""
    adapter = _ADAPTERS.get(action)
    if adapter is None:
        raise ValueError(f"action: unknown {action!r}; one of {', '.join(ACTIONS)}")
    out: ActionParams = adapter.validate_python({} if params is None else params)
    return out


def to_action(p: ActionParams) -> pb.Action:
    """The protobuf `Action` of validated parameters: what gets signed, and what approvers are shown."""
    if isinstance(p, InventoryParams):
        return pb.Action(inventory=pb.Inventory(include_vendor_apis=p.include_vendor_apis))
    if isinstance(p, DisableCloudParams):
        return pb.Action(disable_cloud=pb.DisableCloud(features=p.features))
    if isinstance(p, RestrictNetworkParams):
        return pb.Action(
            restrict_network=pb.RestrictNetwork(
                allow=p.allow, ntp_server=p.ntp_server, keep_protocols=p.keep_protocols,
                clear_gateway=p.clear_gateway, clear_dns=p.clear_dns, accept_recording_gap=p.accept_recording_gap,
                agent_only=p.agent_only,
            )
        )  # fmt: skip
    if isinstance(p, DecommissionParams):
        mode = pb.FACTORY_RESET_MODE_HARD if p.mode == "hard" else pb.FACTORY_RESET_MODE_SOFT
        return pb.Action(decommission=pb.Decommission(mode=mode, wipe_users=p.wipe_users))
    if isinstance(p, RollbackParams):
        return pb.Action(rollback=pb.Rollback(snapshot_id=p.snapshot_id))
    return pb.Action(reboot=pb.Reboot())


def build_action(action: str, params: Any) -> pb.Action:
    return to_action(parse_params(action, params))


def stored_params(action: str, params: Any) -> dict[str, Any]:
    """The parameters as they are stored and audited: every default filled in, exactly what was signed."""
    return parse_params(action, params).model_dump(mode="json")


def describe_action(action: pb.Action) -> dict[str, Any]:
    """Every parameter that changes what happens to a camera, read back from the signed `Action` itself (so a
    description can never say `wipe_users: false` while the envelope says true)."""
    kind = action.WhichOneof("kind") or ""
    if kind == "inventory":
        return {"action": kind, "params": {"include_vendor_apis": action.inventory.include_vendor_apis}}
    if kind == "disable_cloud":
        return {"action": kind, "params": {"features": list(action.disable_cloud.features) or ["(all)"]}}
    if kind == "restrict_network":
        r = action.restrict_network
        return {"action": kind, "params": {
            "allow": list(r.allow), "ntp_server": r.ntp_server or "(unchanged)",
            "keep_protocols": list(r.keep_protocols), "clear_gateway": r.clear_gateway, "clear_dns": r.clear_dns,
            "accept_recording_gap": r.accept_recording_gap, "agent_only": r.agent_only,
        }}  # fmt: skip
    if kind == "decommission":
        d = action.decommission
        mode = "hard" if d.mode == pb.FACTORY_RESET_MODE_HARD else "soft"
        return {"action": kind, "params": {"mode": mode, "wipe_users": d.wipe_users}}
    if kind == "rollback":
        return {"action": kind, "params": {"snapshot_id": action.rollback.snapshot_id}}
    return {"action": kind, "params": {}}
