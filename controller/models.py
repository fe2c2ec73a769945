"""Strict request models of every API operation (bodies and query strings); the OpenAPI document comes from them.

The REST API, the dashboard forms, fleetctl and the campaign engine validate through these, so the same input
means the same thing everywhere. Unknown keys, wrong types, empty filter values and `"false"` for a boolean are
errors that name the field (a 400 for the API). Selecting every camera needs `"all": true`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import BaseModel, Field, StringConstraints, TypeAdapter, ValidationError, model_validator
from pydantic_core import ErrorDetails

from controller.actions import (
    ACTIONS,
    DecommissionParams,
    DisableCloudParams,
    InventoryParams,
    RebootParams,
    RestrictNetworkParams,
    RollbackParams,
    Strict,
)
from controller.census_ingest import CENSUS_STATUSES
from controller.store.base import LIFECYCLE, CameraFilter

MAX_TARGETS = 100_000
MAX_OFFSET = 10_000_000
STAGE_NAMES = ("disable_cloud", "restrict_network", "decommission")
RISKS = ("low", "medium", "high", "critical", "unknown")
ORDERS = ("camera_id", "site", "origin", "manufacturer", "risk_score", "risk_level", "host")

Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")]
Search = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Risk = Literal["low", "medium", "high", "critical", "unknown"]
Lifecycle = Literal["DISCOVERED", "INVENTORIED", "CLOUD_OFF", "NETWORK_LOCKED", "DECOMMISSIONED", "REMOVED"]
assert get_args(Lifecycle) == LIFECYCLE
CensusStatus = Literal[CENSUS_STATUSES]  # type: ignore[valid-type]
Order = Literal[
    "camera_id", "site", "origin", "manufacturer", "risk_score", "risk_level", "host",
    "-camera_id", "-site", "-origin", "-manufacturer", "-risk_score", "-risk_level", "-host",
]  # fmt: skip


class InputError(ValueError):
    """Input that does not fit its model: `fields` lists (field path, problem); str() says it in one line."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self.fields = fields
        super().__init__("; ".join(f"{f}: {m}" if f else m for f, m in fields))


# ---- camera filters and selections ---------------------------------------------------------------------
class Filters(Strict):
    """Camera filters: the same names in the API (query or body), fleetctl --where and the dashboard."""

    origin: Name | None = Field(
        None, description="manufacturer of origin (hikvision, dahua, axis, unknown ...)"
    )
    manufacturer: Name | None = Field(None, description="the manufacturer the camera reports (an OEM brand)")
    site: Name | None = None
    agent: Name | None = Field(None, description="agent id")
    risk: Risk | None = None
    lifecycle: Lifecycle | None = None
    covered: bool | None = Field(None, description="maker on the NDAA §889 list")
    cloud_reachable: bool | None = Field(None, description="vendor cloud reachable")
    q: Search | None = Field(
        None, description="text in id, host, model, manufacturer or firmware (no wildcards)"
    )
    ids: list[Id] | None = Field(None, min_length=1, max_length=MAX_TARGETS, description="camera ids")

    def camera_filter(self) -> CameraFilter:
        return CameraFilter(
            origin=self.origin, manufacturer=self.manufacturer, site=self.site, agent_id=self.agent,
            risk_level=self.risk, lifecycle=self.lifecycle, covered=self.covered,
            cloud_reachable=self.cloud_reachable, search=self.q, camera_ids=self.ids,
        )  # fmt: skip

    def given(self) -> dict[str, Any]:
        """The filters that are set (what a selection says, for messages and the audit log)."""
        return self.model_dump(exclude_none=True, exclude={"all"})


class Selection(Filters):
    """Which cameras a command or campaign targets. At least one filter, or `"all": true` for every camera."""

    tags: list[Name] | None = Field(
        None, min_length=1, max_length=64, description="cameras carrying every tag"
    )
    all: bool = Field(False, description="target every camera (instead of filters)")

    @model_validator(mode="after")
    def _explicit(self) -> Selection:
        if self.all and self.given():
            raise ValueError('"all": true selects every camera; drop the filters, or drop "all"')
        if not self.all and not self.given():
            raise ValueError(
                'name the cameras with at least one filter, or send "all": true for every camera'
            )
        return self


# ---- query strings ----------------------------------------------------------------------------------------
class Page(Strict):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class CamerasQuery(Filters, Page):
    order: Order = "camera_id"


class SummaryQuery(Filters):
    pass


class ExportQuery(Filters):
    format: Literal["json", "csv"] = "json"


class CommandsQuery(Page):
    pass


class AuditQuery(Page):
    limit: int = Field(100, ge=1, le=10_000)


class CampaignsQuery(Page):
    limit: int = Field(100, ge=1, le=1000)


class AlertsQuery(Page):
    limit: int = Field(100, ge=1, le=1000)
    open: bool = Field(False, description="only alerts not yet acknowledged")


class CensusQuery(Page):
    limit: int = Field(500, ge=1, le=10_000)
    status: CensusStatus | None = Field(None, description="how the census device relates to the inventory")
    origin: Name | None = None


class NoQuery(Strict):
    pass


# ---- commands ---------------------------------------------------------------------------------------------
# What the operator saw: a destructive command or campaign is refused when its selection now holds more cameras
# (controller.commands.check_growth); required where a stage or action is destructive.
Previewed = Annotated[
    int | None,
    Field(ge=0, le=MAX_TARGETS, description="the number of cameras the operator previewed; refused if the "
                                            "selection now holds more (required when destructive)"),
]  # fmt: skip


class _Command(Strict):
    where: Selection
    dry_run: bool = Field(False, description="ask the agents for the diff; change nothing")
    ttl_s: float = Field(900.0, ge=10, le=7 * 86400, description="executions time out after this long")
    expect_cameras: Previewed = None

    @model_validator(mode="before")
    @classmethod
    def _no_params(cls, data: Any) -> Any:
        # Absent params are empty params, so a missing required one is named (`params.allow: required`).
        return {**data, "params": {}} if isinstance(data, dict) and "params" not in data else data


class InventoryCommand(_Command):
    action: Literal["inventory"]
    params: InventoryParams = InventoryParams()


class DisableCloudCommand(_Command):
    action: Literal["disable_cloud"]
    params: DisableCloudParams = DisableCloudParams()


class RestrictNetworkCommand(_Command):
    action: Literal["restrict_network"]
    params: RestrictNetworkParams


class DecommissionCommand(_Command):
    action: Literal["decommission"]
    params: DecommissionParams = DecommissionParams()


class RollbackCommand(_Command):
    action: Literal["rollback"]
    params: RollbackParams


class RebootCommand(_Command):
    action: Literal["reboot"]
    params: RebootParams = RebootParams()


CommandCreate = Annotated[
    InventoryCommand | DisableCloudCommand | RestrictNetworkCommand | DecommissionCommand | RollbackCommand
    | RebootCommand,
    Field(discriminator="action"),
]  # fmt: skip
AnyCommand = (
    InventoryCommand | DisableCloudCommand | RestrictNetworkCommand | DecommissionCommand | RollbackCommand
    | RebootCommand
)  # fmt: skip
COMMAND_CREATE: TypeAdapter[AnyCommand] = TypeAdapter(CommandCreate)


# ---- campaigns --------------------------------------------------------------------------------------------
class DisableCloudStage(Strict):
    action: Literal["disable_cloud"]
    params: DisableCloudParams = DisableCloudParams()


class RestrictNetworkStage(Strict):
    action: Literal["restrict_network"]
    params: RestrictNetworkParams


class DecommissionStage(Strict):
    action: Literal["decommission"]
    params: DecommissionParams = DecommissionParams()


AnyStage = DisableCloudStage | RestrictNetworkStage | DecommissionStage
Stage = Annotated[AnyStage, Field(discriminator="action")]


class PlanSpec(Strict):
    canary: int = Field(1, ge=1, le=MAX_TARGETS, description="cameras in the first (canary) batch")
    growth: float = Field(2.0, ge=1.0, le=100.0, description="each batch is this many times the previous")
    max_batch: int = Field(50, ge=1, le=MAX_TARGETS, description="the largest batch")

    @model_validator(mode="after")
    def _fits(self) -> PlanSpec:
        if self.max_batch < self.canary:
            raise ValueError("max_batch: at least the canary size")
        return self


class GateSpec(Strict):
    success_threshold: float = Field(1.0, ge=0.0, le=1.0, description="fraction that must succeed to advance")
    failure_threshold: float = Field(0.5, gt=0.0, le=1.0, description="failed fraction that trips the gate")
    min_executed: int = Field(
        1, ge=1, le=MAX_TARGETS, description="finished executions before the gate can trip"
    )
    action: Literal["pause", "abort"] = "pause"


HHMM = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")]


class WindowSpec(Strict):
    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        default_factory=lambda: list(range(7)),
        min_length=1,
        max_length=7,
        description="0 = Monday .. 6 = Sunday",
    )
    start: HHMM = "00:00"
    end: HHMM = "24:00"


class CampaignCreate(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]
    where: Selection
    stages: list[Stage] = Field(min_length=1, max_length=len(STAGE_NAMES))
    plan: PlanSpec = PlanSpec()
    gate: GateSpec = GateSpec()
    ttl_s: float = Field(900.0, ge=10, le=7 * 86400)
    windows: list[WindowSpec] = Field(default_factory=list, max_length=32)
    retry_failed_only: bool = True
    approvals_required: int | None = Field(None, ge=2, le=16, description="default: the controller's setting")
    approval_ttl_s: float = Field(7 * 86400.0, ge=60, le=30 * 86400)
    preview: Literal["canary", "all", "none"] = "canary"
    expect_cameras: Previewed = None

    @model_validator(mode="before")
    @classmethod
    def _stage_names(cls, data: Any) -> Any:
        # A stage may be named alone ("disable_cloud"): the same as {"action": "disable_cloud"}.
        if isinstance(data, dict) and isinstance(data.get("stages"), list):
            stages = [{"action": s} if isinstance(s, str) else s for s in data["stages"]]
            data = {**data, "stages": [{**s, "params": {}} if isinstance(s, dict) and "params" not in s else s
                                       for s in stages]}  # fmt: skip
        return data

    @model_validator(mode="after")
    def _order(self) -> CampaignCreate:
        names = [s.action for s in self.stages]
        if len(set(names)) != len(names) or names != sorted(names, key=STAGE_NAMES.index):
            raise ValueError("stages: each at most once, in the order " + " -> ".join(STAGE_NAMES))
        return self


class Reason(Strict):
    reason: Annotated[str, StringConstraints(max_length=1000)] = ""


class ApprovalCreate(Strict):
    key_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    signature: Annotated[str, StringConstraints(min_length=1, max_length=256)] = Field(
        description="base64 of the 64-byte Ed25519 signature over the manifest"
    )


class RemovedCreate(Strict):
    note: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"\S")] = Field(
        description="who removed it, where it went"
    )


class Reassign(Strict):
    agent_id: Id = Field(description="the agent that owns the camera from now on")
    note: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"\S")] = Field(
        description="why the camera moved (audited)"
    )


# ---- validation helpers -------------------------------------------------------------------------------------
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
_NOISE = frozenset({*ACTIONS, "function-after", "function-before"})


def _path(loc: Iterable[int | str]) -> str:
    # Discriminated unions add the tag to the location ("disable_cloud.params.x"): the client did not write it.
    parts = [str(p) for p in loc if not (isinstance(p, str) and (p in _NOISE or "[" in p))]
    return ".".join(parts)


def _message(e: ErrorDetails) -> str:
    ctx = e.get("ctx") or {}
    if e["type"] == "union_tag_invalid":
        return f"unknown {str(ctx.get('discriminator', '')).strip(chr(39))} {ctx.get('tag')!r}; one of {ctx.get('expected_tags')}"
    if e["type"] == "union_tag_not_found":
        return "required"
    if e["type"] == "extra_forbidden":
        return "unknown key"
    if e["type"] == "missing":
        return "required"
    msg = str(e["msg"])
    return msg.removeprefix("Value error, ")


def input_error(exc: ValidationError, prefix: str = "") -> InputError:
    fields = []
    for e in exc.errors(include_url=False):
        path = _path(e["loc"])
        if e["type"] in ("union_tag_invalid", "union_tag_not_found"):
            tag = str((e.get("ctx") or {}).get("discriminator", "")).strip("'")
            path = f"{path}.{tag}" if path else tag
        fields.append((f"{prefix}.{path}" if prefix and path else prefix or path, _message(e)))
    return InputError(fields)


NUL = "the NUL character (\\x00) is not allowed"


def _nul_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _nul_paths(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _nul_paths(v, f"{path}.{i}" if path else str(i))


def refuse_nul(validated: T, prefix: str = "") -> T:
    """Text holding a NUL is an error naming the field: no name, note or id means one, and PostgreSQL cannot
    store it (a NUL in `where.site` was a 500 there while SQLite matched nothing)."""
    dumped = validated.model_dump() if isinstance(validated, BaseModel) else validated
    paths = list(_nul_paths(dumped, prefix))
    if paths:
        raise InputError([(p, NUL) for p in paths[:20]])
    return validated


def parse_json(model: type[M], raw: bytes | str) -> M:
    """A JSON body into `model`; malformed, too deep or mistyped input is an InputError naming the field."""
    if not raw.strip():
        raw = b"{}"
    try:
        out = model.model_validate_json(raw)
    except ValidationError as exc:
        raise input_error(exc) from None
    return refuse_nul(out)


def parse_body(adapter: TypeAdapter[Any], raw: bytes | str) -> Any:
    try:
        out = adapter.validate_json(raw if raw.strip() else b"{}")
    except ValidationError as exc:
        raise input_error(exc) from None
    return refuse_nul(out)


def parse_obj(model: type[M], data: Any, prefix: str = "") -> M:
    try:
        out = model.model_validate(data)
    except ValidationError as exc:
        raise input_error(exc, prefix) from None
    return refuse_nul(out, prefix)


def _is_list(model: type[BaseModel], name: str) -> bool:
    f = model.model_fields.get(name)
    return f is not None and "list[" in str(f.annotation)


def parse_query(model: type[M], query: Mapping[str, str] | Any) -> M:
    """Query-string parameters into `model`. Every value is text there, so numbers and booleans are read from
    text (`false` is False, never bool("false")); lists are comma-separated; a key given twice is an error."""
    data: dict[str, Any] = {}
    keys = list(query.keys())
    for key in keys:
        if keys.count(key) > 1:
            raise InputError([(key, "given more than once")])
        value = query[key]
        data[key] = [x.strip() for x in value.split(",") if x.strip()] if _is_list(model, key) else value
    try:
        out = model.model_validate(data, strict=False)
    except ValidationError as exc:
        raise input_error(exc) from None
    return refuse_nul(out)
