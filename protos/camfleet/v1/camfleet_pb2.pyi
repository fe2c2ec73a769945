import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PayloadKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYLOAD_KIND_UNSPECIFIED: _ClassVar[PayloadKind]
    PAYLOAD_KIND_COMMAND: _ClassVar[PayloadKind]

class SignatureRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNATURE_ROLE_UNSPECIFIED: _ClassVar[SignatureRole]
    SIGNATURE_ROLE_CONTROLLER: _ClassVar[SignatureRole]
    SIGNATURE_ROLE_APPROVER: _ClassVar[SignatureRole]

class FactoryResetMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FACTORY_RESET_MODE_UNSPECIFIED: _ClassVar[FactoryResetMode]
    FACTORY_RESET_MODE_SOFT: _ClassVar[FactoryResetMode]
    FACTORY_RESET_MODE_HARD: _ClassVar[FactoryResetMode]

class ExecutionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXECUTION_STATE_UNSPECIFIED: _ClassVar[ExecutionState]
    EXECUTION_STATE_QUEUED: _ClassVar[ExecutionState]
    EXECUTION_STATE_SENT: _ClassVar[ExecutionState]
    EXECUTION_STATE_ACCEPTED: _ClassVar[ExecutionState]
    EXECUTION_STATE_IN_PROGRESS: _ClassVar[ExecutionState]
    EXECUTION_STATE_SUCCEEDED: _ClassVar[ExecutionState]
    EXECUTION_STATE_FAILED: _ClassVar[ExecutionState]
    EXECUTION_STATE_REJECTED: _ClassVar[ExecutionState]
    EXECUTION_STATE_TIMED_OUT: _ClassVar[ExecutionState]
    EXECUTION_STATE_CANCELED: _ClassVar[ExecutionState]

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_CHANGED: _ClassVar[Outcome]
    OUTCOME_ALREADY: _ClassVar[Outcome]
    OUTCOME_UNSUPPORTED: _ClassVar[Outcome]
    OUTCOME_FAILED: _ClassVar[Outcome]
    OUTCOME_WOULD_CHANGE: _ClassVar[Outcome]

class ErrorClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_CLASS_UNSPECIFIED: _ClassVar[ErrorClass]
    ERROR_CLASS_UNREACHABLE: _ClassVar[ErrorClass]
    ERROR_CLASS_AUTH: _ClassVar[ErrorClass]
    ERROR_CLASS_UNSUPPORTED: _ClassVar[ErrorClass]
    ERROR_CLASS_PROTOCOL: _ClassVar[ErrorClass]
    ERROR_CLASS_REJECTED: _ClassVar[ErrorClass]
    ERROR_CLASS_TIMEOUT: _ClassVar[ErrorClass]
    ERROR_CLASS_LOCKED_OUT: _ClassVar[ErrorClass]
    ERROR_CLASS_VERIFY_FAILED: _ClassVar[ErrorClass]
    ERROR_CLASS_INTERNAL: _ClassVar[ErrorClass]

class GoalState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GOAL_STATE_UNSPECIFIED: _ClassVar[GoalState]
    GOAL_STATE_REACHED: _ClassVar[GoalState]
    GOAL_STATE_PARTLY_REACHED: _ClassVar[GoalState]
    GOAL_STATE_NOT_REACHABLE: _ClassVar[GoalState]

class FeatureState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEATURE_STATE_UNSPECIFIED: _ClassVar[FeatureState]
    FEATURE_STATE_ON: _ClassVar[FeatureState]
    FEATURE_STATE_OFF: _ClassVar[FeatureState]
    FEATURE_STATE_UNSUPPORTED: _ClassVar[FeatureState]
    FEATURE_STATE_UNKNOWN: _ClassVar[FeatureState]

class CensusStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CENSUS_STATUS_UNSPECIFIED: _ClassVar[CensusStatus]
    CENSUS_STATUS_SEEN: _ClassVar[CensusStatus]
    CENSUS_STATUS_IDENTIFIED: _ClassVar[CensusStatus]
    CENSUS_STATUS_CREDENTIALS_KNOWN: _ClassVar[CensusStatus]
    CENSUS_STATUS_INVENTORIED: _ClassVar[CensusStatus]

class Activation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVATION_UNSPECIFIED: _ClassVar[Activation]
    ACTIVATION_ACTIVATED: _ClassVar[Activation]
    ACTIVATION_UNACTIVATED: _ClassVar[Activation]

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_KIND_UNSPECIFIED: _ClassVar[EventKind]
    EVENT_KIND_CAMERA_APPEARED: _ClassVar[EventKind]
    EVENT_KIND_CAMERA_VANISHED: _ClassVar[EventKind]
    EVENT_KIND_DRIFT_DETECTED: _ClassVar[EventKind]
    EVENT_KIND_LOCKOUT_RISK: _ClassVar[EventKind]
    EVENT_KIND_COMMAND_REJECTED: _ClassVar[EventKind]
    EVENT_KIND_CENSUS_FAILED: _ClassVar[EventKind]
PAYLOAD_KIND_UNSPECIFIED: PayloadKind
PAYLOAD_KIND_COMMAND: PayloadKind
SIGNATURE_ROLE_UNSPECIFIED: SignatureRole
SIGNATURE_ROLE_CONTROLLER: SignatureRole
SIGNATURE_ROLE_APPROVER: SignatureRole
FACTORY_RESET_MODE_UNSPECIFIED: FactoryResetMode
FACTORY_RESET_MODE_SOFT: FactoryResetMode
FACTORY_RESET_MODE_HARD: FactoryResetMode
EXECUTION_STATE_UNSPECIFIED: ExecutionState
EXECUTION_STATE_QUEUED: ExecutionState
EXECUTION_STATE_SENT: ExecutionState
EXECUTION_STATE_ACCEPTED: ExecutionState
EXECUTION_STATE_IN_PROGRESS: ExecutionState
EXECUTION_STATE_SUCCEEDED: ExecutionState
EXECUTION_STATE_FAILED: ExecutionState
EXECUTION_STATE_REJECTED: ExecutionState
EXECUTION_STATE_TIMED_OUT: ExecutionState
EXECUTION_STATE_CANCELED: ExecutionState
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_CHANGED: Outcome
OUTCOME_ALREADY: Outcome
OUTCOME_UNSUPPORTED: Outcome
OUTCOME_FAILED: Outcome
OUTCOME_WOULD_CHANGE: Outcome
ERROR_CLASS_UNSPECIFIED: ErrorClass
ERROR_CLASS_UNREACHABLE: ErrorClass
ERROR_CLASS_AUTH: ErrorClass
ERROR_CLASS_UNSUPPORTED: ErrorClass
ERROR_CLASS_PROTOCOL: ErrorClass
ERROR_CLASS_REJECTED: ErrorClass
ERROR_CLASS_TIMEOUT: ErrorClass
ERROR_CLASS_LOCKED_OUT: ErrorClass
ERROR_CLASS_VERIFY_FAILED: ErrorClass
ERROR_CLASS_INTERNAL: ErrorClass
GOAL_STATE_UNSPECIFIED: GoalState
GOAL_STATE_REACHED: GoalState
GOAL_STATE_PARTLY_REACHED: GoalState
GOAL_STATE_NOT_REACHABLE: GoalState
FEATURE_STATE_UNSPECIFIED: FeatureState
FEATURE_STATE_ON: FeatureState
FEATURE_STATE_OFF: FeatureState
FEATURE_STATE_UNSUPPORTED: FeatureState
FEATURE_STATE_UNKNOWN: FeatureState
CENSUS_STATUS_UNSPECIFIED: CensusStatus
CENSUS_STATUS_SEEN: CensusStatus
CENSUS_STATUS_IDENTIFIED: CensusStatus
CENSUS_STATUS_CREDENTIALS_KNOWN: CensusStatus
CENSUS_STATUS_INVENTORIED: CensusStatus
ACTIVATION_UNSPECIFIED: Activation
ACTIVATION_ACTIVATED: Activation
ACTIVATION_UNACTIVATED: Activation
EVENT_KIND_UNSPECIFIED: EventKind
EVENT_KIND_CAMERA_APPEARED: EventKind
EVENT_KIND_CAMERA_VANISHED: EventKind
EVENT_KIND_DRIFT_DETECTED: EventKind
EVENT_KIND_LOCKOUT_RISK: EventKind
EVENT_KIND_COMMAND_REJECTED: EventKind
EVENT_KIND_CENSUS_FAILED: EventKind

class Signature(_message.Message):
    __slots__ = ("key_id", "signature", "role")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    signature: bytes
    role: SignatureRole
    def __init__(self, key_id: _Optional[str] = ..., signature: _Optional[bytes] = ..., role: _Optional[_Union[SignatureRole, str]] = ...) -> None: ...

class Envelope(_message.Message):
    __slots__ = ("kind", "payload", "signatures")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    kind: PayloadKind
    payload: bytes
    signatures: _containers.RepeatedCompositeFieldContainer[Signature]
    def __init__(self, kind: _Optional[_Union[PayloadKind, str]] = ..., payload: _Optional[bytes] = ..., signatures: _Optional[_Iterable[_Union[Signature, _Mapping]]] = ...) -> None: ...

class Inventory(_message.Message):
    __slots__ = ("include_vendor_apis",)
    INCLUDE_VENDOR_APIS_FIELD_NUMBER: _ClassVar[int]
    include_vendor_apis: bool
    def __init__(self, include_vendor_apis: _Optional[bool] = ...) -> None: ...

class Discover(_message.Message):
    __slots__ = ("ws_discovery", "ranges")
    WS_DISCOVERY_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    ws_discovery: bool
    ranges: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ws_discovery: _Optional[bool] = ..., ranges: _Optional[_Iterable[str]] = ...) -> None: ...

class DisableCloud(_message.Message):
    __slots__ = ("features",)
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    features: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, features: _Optional[_Iterable[str]] = ...) -> None: ...

class RestrictNetwork(_message.Message):
    __slots__ = ("allow", "ntp_server", "keep_protocols", "clear_gateway", "clear_dns", "accept_recording_gap", "agent_only")
    ALLOW_FIELD_NUMBER: _ClassVar[int]
    NTP_SERVER_FIELD_NUMBER: _ClassVar[int]
    KEEP_PROTOCOLS_FIELD_NUMBER: _ClassVar[int]
    CLEAR_GATEWAY_FIELD_NUMBER: _ClassVar[int]
    CLEAR_DNS_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_RECORDING_GAP_FIELD_NUMBER: _ClassVar[int]
    AGENT_ONLY_FIELD_NUMBER: _ClassVar[int]
    allow: _containers.RepeatedScalarFieldContainer[str]
    ntp_server: str
    keep_protocols: _containers.RepeatedScalarFieldContainer[str]
    clear_gateway: bool
    clear_dns: bool
    accept_recording_gap: bool
    agent_only: bool
    def __init__(self, allow: _Optional[_Iterable[str]] = ..., ntp_server: _Optional[str] = ..., keep_protocols: _Optional[_Iterable[str]] = ..., clear_gateway: _Optional[bool] = ..., clear_dns: _Optional[bool] = ..., accept_recording_gap: _Optional[bool] = ..., agent_only: _Optional[bool] = ...) -> None: ...

class Decommission(_message.Message):
    __slots__ = ("mode", "wipe_users")
    MODE_FIELD_NUMBER: _ClassVar[int]
    WIPE_USERS_FIELD_NUMBER: _ClassVar[int]
    mode: FactoryResetMode
    wipe_users: bool
    def __init__(self, mode: _Optional[_Union[FactoryResetMode, str]] = ..., wipe_users: _Optional[bool] = ...) -> None: ...

class Rollback(_message.Message):
    __slots__ = ("snapshot_id",)
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    def __init__(self, snapshot_id: _Optional[str] = ...) -> None: ...

class Reboot(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Action(_message.Message):
    __slots__ = ("inventory", "discover", "disable_cloud", "restrict_network", "decommission", "rollback", "reboot")
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    DISCOVER_FIELD_NUMBER: _ClassVar[int]
    DISABLE_CLOUD_FIELD_NUMBER: _ClassVar[int]
    RESTRICT_NETWORK_FIELD_NUMBER: _ClassVar[int]
    DECOMMISSION_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    REBOOT_FIELD_NUMBER: _ClassVar[int]
    inventory: Inventory
    discover: Discover
    disable_cloud: DisableCloud
    restrict_network: RestrictNetwork
    decommission: Decommission
    rollback: Rollback
    reboot: Reboot
    def __init__(self, inventory: _Optional[_Union[Inventory, _Mapping]] = ..., discover: _Optional[_Union[Discover, _Mapping]] = ..., disable_cloud: _Optional[_Union[DisableCloud, _Mapping]] = ..., restrict_network: _Optional[_Union[RestrictNetwork, _Mapping]] = ..., decommission: _Optional[_Union[Decommission, _Mapping]] = ..., rollback: _Optional[_Union[Rollback, _Mapping]] = ..., reboot: _Optional[_Union[Reboot, _Mapping]] = ...) -> None: ...

class ApprovalManifest(_message.Message):
    __slots__ = ("campaign_id", "batch_id", "action", "camera_ids", "not_after")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    batch_id: str
    action: Action
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    not_after: _timestamp_pb2.Timestamp
    def __init__(self, campaign_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., action: _Optional[_Union[Action, _Mapping]] = ..., camera_ids: _Optional[_Iterable[str]] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("command_id", "agent_id", "issued_at", "not_after", "campaign_id", "batch_id", "camera_ids", "dry_run", "action", "approval_manifest")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_MANIFEST_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    agent_id: str
    issued_at: _timestamp_pb2.Timestamp
    not_after: _timestamp_pb2.Timestamp
    campaign_id: str
    batch_id: str
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    dry_run: bool
    action: Action
    approval_manifest: bytes
    def __init__(self, command_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., campaign_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., camera_ids: _Optional[_Iterable[str]] = ..., dry_run: _Optional[bool] = ..., action: _Optional[_Union[Action, _Mapping]] = ..., approval_manifest: _Optional[bytes] = ...) -> None: ...

class SettingOutcome(_message.Message):
    __slots__ = ("setting", "outcome", "before", "after", "reason")
    SETTING_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    setting: str
    outcome: Outcome
    before: str
    after: str
    reason: str
    def __init__(self, setting: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., before: _Optional[str] = ..., after: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("snapshot_id", "camera_id", "taken_at", "values")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    TAKEN_AT_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    camera_id: str
    taken_at: _timestamp_pb2.Timestamp
    values: _containers.ScalarMap[str, str]
    def __init__(self, snapshot_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., taken_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., values: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ExecutionUpdate(_message.Message):
    __slots__ = ("command_id", "camera_id", "agent_id", "state", "settings", "snapshot", "error_class", "message", "at", "seq", "rejection_reason", "goal", "residual_exposure")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    ERROR_CLASS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    REJECTION_REASON_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    RESIDUAL_EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    camera_id: str
    agent_id: str
    state: ExecutionState
    settings: _containers.RepeatedCompositeFieldContainer[SettingOutcome]
    snapshot: Snapshot
    error_class: ErrorClass
    message: str
    at: _timestamp_pb2.Timestamp
    seq: int
    rejection_reason: str
    goal: GoalState
    residual_exposure: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, command_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., state: _Optional[_Union[ExecutionState, str]] = ..., settings: _Optional[_Iterable[_Union[SettingOutcome, _Mapping]]] = ..., snapshot: _Optional[_Union[Snapshot, _Mapping]] = ..., error_class: _Optional[_Union[ErrorClass, str]] = ..., message: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seq: _Optional[int] = ..., rejection_reason: _Optional[str] = ..., goal: _Optional[_Union[GoalState, str]] = ..., residual_exposure: _Optional[_Iterable[str]] = ...) -> None: ...

class AgentStatus(_message.Message):
    __slots__ = ("agent_id", "version", "boot_seq", "capabilities", "online", "at", "site", "camera_count")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BOOT_SEQ_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    CAMERA_COUNT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    version: str
    boot_seq: int
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    online: bool
    at: _timestamp_pb2.Timestamp
    site: str
    camera_count: int
    def __init__(self, agent_id: _Optional[str] = ..., version: _Optional[str] = ..., boot_seq: _Optional[int] = ..., capabilities: _Optional[_Iterable[str]] = ..., online: _Optional[bool] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., site: _Optional[str] = ..., camera_count: _Optional[int] = ...) -> None: ...

class ControllerStatus(_message.Message):
    __slots__ = ("online", "version", "at", "key_ids")
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    KEY_IDS_FIELD_NUMBER: _ClassVar[int]
    online: bool
    version: str
    at: _timestamp_pb2.Timestamp
    key_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, online: _Optional[bool] = ..., version: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., key_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CameraIdentity(_message.Message):
    __slots__ = ("manufacturer", "model", "firmware", "serial", "hardware_id", "macs", "ips")
    MANUFACTURER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FIRMWARE_FIELD_NUMBER: _ClassVar[int]
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_ID_FIELD_NUMBER: _ClassVar[int]
    MACS_FIELD_NUMBER: _ClassVar[int]
    IPS_FIELD_NUMBER: _ClassVar[int]
    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str
    macs: _containers.RepeatedScalarFieldContainer[str]
    ips: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, manufacturer: _Optional[str] = ..., model: _Optional[str] = ..., firmware: _Optional[str] = ..., serial: _Optional[str] = ..., hardware_id: _Optional[str] = ..., macs: _Optional[_Iterable[str]] = ..., ips: _Optional[_Iterable[str]] = ...) -> None: ...

class NetworkProtocol(_message.Message):
    __slots__ = ("name", "enabled", "ports")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    enabled: bool
    ports: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., enabled: _Optional[bool] = ..., ports: _Optional[_Iterable[int]] = ...) -> None: ...

class IPAddressFilter(_message.Message):
    __slots__ = ("type", "addresses")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    type: str
    addresses: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, type: _Optional[str] = ..., addresses: _Optional[_Iterable[str]] = ...) -> None: ...

class NetworkSettings(_message.Message):
    __slots__ = ("gateways", "dns", "dns_from_dhcp", "ntp", "ntp_from_dhcp", "protocols", "discovery_mode", "zero_configuration", "dyndns_type", "dyndns_name", "ip_filter", "hostname", "unknown")
    GATEWAYS_FIELD_NUMBER: _ClassVar[int]
    DNS_FIELD_NUMBER: _ClassVar[int]
    DNS_FROM_DHCP_FIELD_NUMBER: _ClassVar[int]
    NTP_FIELD_NUMBER: _ClassVar[int]
    NTP_FROM_DHCP_FIELD_NUMBER: _ClassVar[int]
    PROTOCOLS_FIELD_NUMBER: _ClassVar[int]
    DISCOVERY_MODE_FIELD_NUMBER: _ClassVar[int]
    ZERO_CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    DYNDNS_TYPE_FIELD_NUMBER: _ClassVar[int]
    DYNDNS_NAME_FIELD_NUMBER: _ClassVar[int]
    IP_FILTER_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_FIELD_NUMBER: _ClassVar[int]
    gateways: _containers.RepeatedScalarFieldContainer[str]
    dns: _containers.RepeatedScalarFieldContainer[str]
    dns_from_dhcp: bool
    ntp: _containers.RepeatedScalarFieldContainer[str]
    ntp_from_dhcp: bool
    protocols: _containers.RepeatedCompositeFieldContainer[NetworkProtocol]
    discovery_mode: str
    zero_configuration: FeatureState
    dyndns_type: str
    dyndns_name: str
    ip_filter: IPAddressFilter
    hostname: str
    unknown: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, gateways: _Optional[_Iterable[str]] = ..., dns: _Optional[_Iterable[str]] = ..., dns_from_dhcp: _Optional[bool] = ..., ntp: _Optional[_Iterable[str]] = ..., ntp_from_dhcp: _Optional[bool] = ..., protocols: _Optional[_Iterable[_Union[NetworkProtocol, _Mapping]]] = ..., discovery_mode: _Optional[str] = ..., zero_configuration: _Optional[_Union[FeatureState, str]] = ..., dyndns_type: _Optional[str] = ..., dyndns_name: _Optional[str] = ..., ip_filter: _Optional[_Union[IPAddressFilter, _Mapping]] = ..., hostname: _Optional[str] = ..., unknown: _Optional[_Iterable[str]] = ...) -> None: ...

class CloudFeature(_message.Message):
    __slots__ = ("name", "state", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: FeatureState
    detail: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[FeatureState, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class UserInfo(_message.Message):
    __slots__ = ("username", "level")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    username: str
    level: str
    def __init__(self, username: _Optional[str] = ..., level: _Optional[str] = ...) -> None: ...

class Capability(_message.Message):
    __slots__ = ("name", "supported")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_FIELD_NUMBER: _ClassVar[int]
    name: str
    supported: bool
    def __init__(self, name: _Optional[str] = ..., supported: _Optional[bool] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("signal", "value", "points_to", "weight", "explanation")
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    POINTS_TO_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    signal: str
    value: str
    points_to: str
    weight: float
    explanation: str
    def __init__(self, signal: _Optional[str] = ..., value: _Optional[str] = ..., points_to: _Optional[str] = ..., weight: _Optional[float] = ..., explanation: _Optional[str] = ...) -> None: ...

class Origin(_message.Message):
    __slots__ = ("reported_brand", "manufacturer", "covered", "oem_rebrand", "confidence", "evidence")
    REPORTED_BRAND_FIELD_NUMBER: _ClassVar[int]
    MANUFACTURER_FIELD_NUMBER: _ClassVar[int]
    COVERED_FIELD_NUMBER: _ClassVar[int]
    OEM_REBRAND_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    reported_brand: str
    manufacturer: str
    covered: bool
    oem_rebrand: bool
    confidence: float
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    def __init__(self, reported_brand: _Optional[str] = ..., manufacturer: _Optional[str] = ..., covered: _Optional[bool] = ..., oem_rebrand: _Optional[bool] = ..., confidence: _Optional[float] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ...) -> None: ...

class CveRef(_message.Message):
    __slots__ = ("id", "kev", "source", "confidence")
    ID_FIELD_NUMBER: _ClassVar[int]
    KEV_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    kev: bool
    source: str
    confidence: str
    def __init__(self, id: _Optional[str] = ..., kev: _Optional[bool] = ..., source: _Optional[str] = ..., confidence: _Optional[str] = ...) -> None: ...

class Risk(_message.Message):
    __slots__ = ("score", "level", "reasons", "cves", "cloud_reachable", "exposed_services")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    CVES_FIELD_NUMBER: _ClassVar[int]
    CLOUD_REACHABLE_FIELD_NUMBER: _ClassVar[int]
    EXPOSED_SERVICES_FIELD_NUMBER: _ClassVar[int]
    score: int
    level: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    cves: _containers.RepeatedCompositeFieldContainer[CveRef]
    cloud_reachable: bool
    exposed_services: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, score: _Optional[int] = ..., level: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ..., cves: _Optional[_Iterable[_Union[CveRef, _Mapping]]] = ..., cloud_reachable: _Optional[bool] = ..., exposed_services: _Optional[_Iterable[str]] = ...) -> None: ...

class CameraError(_message.Message):
    __slots__ = ("operation", "error_class", "message")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    ERROR_CLASS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    operation: str
    error_class: ErrorClass
    message: str
    def __init__(self, operation: _Optional[str] = ..., error_class: _Optional[_Union[ErrorClass, str]] = ..., message: _Optional[str] = ...) -> None: ...

class RecorderChannel(_message.Message):
    __slots__ = ("channel", "name", "address", "port", "protocol", "online", "status_detail", "identity", "origin", "camera_id", "fingerprint", "sources")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    STATUS_DETAIL_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    channel: int
    name: str
    address: str
    port: int
    protocol: str
    online: bool
    status_detail: str
    identity: CameraIdentity
    origin: Origin
    camera_id: str
    fingerprint: str
    sources: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, channel: _Optional[int] = ..., name: _Optional[str] = ..., address: _Optional[str] = ..., port: _Optional[int] = ..., protocol: _Optional[str] = ..., online: _Optional[bool] = ..., status_detail: _Optional[str] = ..., identity: _Optional[_Union[CameraIdentity, _Mapping]] = ..., origin: _Optional[_Union[Origin, _Mapping]] = ..., camera_id: _Optional[str] = ..., fingerprint: _Optional[str] = ..., sources: _Optional[_Iterable[str]] = ...) -> None: ...

class CameraRecord(_message.Message):
    __slots__ = ("camera_id", "agent_id", "site", "host", "port", "identity", "network", "cloud", "users", "clock_offset_s", "capabilities", "origin", "risk", "errors", "observed_at", "fingerprint", "reachable", "scopes", "device_class", "channels")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    CLOUD_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    CLOCK_OFFSET_S_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    DEVICE_CLASS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    agent_id: str
    site: str
    host: str
    port: int
    identity: CameraIdentity
    network: NetworkSettings
    cloud: _containers.RepeatedCompositeFieldContainer[CloudFeature]
    users: _containers.RepeatedCompositeFieldContainer[UserInfo]
    clock_offset_s: float
    capabilities: _containers.RepeatedCompositeFieldContainer[Capability]
    origin: Origin
    risk: Risk
    errors: _containers.RepeatedCompositeFieldContainer[CameraError]
    observed_at: _timestamp_pb2.Timestamp
    fingerprint: str
    reachable: bool
    scopes: _containers.RepeatedScalarFieldContainer[str]
    device_class: str
    channels: _containers.RepeatedCompositeFieldContainer[RecorderChannel]
    def __init__(self, camera_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., site: _Optional[str] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., identity: _Optional[_Union[CameraIdentity, _Mapping]] = ..., network: _Optional[_Union[NetworkSettings, _Mapping]] = ..., cloud: _Optional[_Iterable[_Union[CloudFeature, _Mapping]]] = ..., users: _Optional[_Iterable[_Union[UserInfo, _Mapping]]] = ..., clock_offset_s: _Optional[float] = ..., capabilities: _Optional[_Iterable[_Union[Capability, _Mapping]]] = ..., origin: _Optional[_Union[Origin, _Mapping]] = ..., risk: _Optional[_Union[Risk, _Mapping]] = ..., errors: _Optional[_Iterable[_Union[CameraError, _Mapping]]] = ..., observed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fingerprint: _Optional[str] = ..., reachable: _Optional[bool] = ..., scopes: _Optional[_Iterable[str]] = ..., device_class: _Optional[str] = ..., channels: _Optional[_Iterable[_Union[RecorderChannel, _Mapping]]] = ...) -> None: ...

class InventoryReport(_message.Message):
    __slots__ = ("agent_id", "full", "cameras", "removed_camera_ids", "seq", "at")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    full: bool
    cameras: _containers.RepeatedCompositeFieldContainer[CameraRecord]
    removed_camera_ids: _containers.RepeatedScalarFieldContainer[str]
    seq: int
    at: _timestamp_pb2.Timestamp
    def __init__(self, agent_id: _Optional[str] = ..., full: _Optional[bool] = ..., cameras: _Optional[_Iterable[_Union[CameraRecord, _Mapping]]] = ..., removed_camera_ids: _Optional[_Iterable[str]] = ..., seq: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CensusDevice(_message.Message):
    __slots__ = ("host", "port", "macs", "serial", "model", "firmware", "device_class", "channels", "activation", "status", "sources", "origin", "camera_id", "cloud", "announced_address")
    class CloudEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    MACS_FIELD_NUMBER: _ClassVar[int]
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FIRMWARE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_CLASS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    CLOUD_FIELD_NUMBER: _ClassVar[int]
    ANNOUNCED_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    host: str
    port: int
    macs: _containers.RepeatedScalarFieldContainer[str]
    serial: str
    model: str
    firmware: str
    device_class: str
    channels: int
    activation: Activation
    status: CensusStatus
    sources: _containers.RepeatedScalarFieldContainer[str]
    origin: Origin
    camera_id: str
    cloud: _containers.ScalarMap[str, str]
    announced_address: str
    def __init__(self, host: _Optional[str] = ..., port: _Optional[int] = ..., macs: _Optional[_Iterable[str]] = ..., serial: _Optional[str] = ..., model: _Optional[str] = ..., firmware: _Optional[str] = ..., device_class: _Optional[str] = ..., channels: _Optional[int] = ..., activation: _Optional[_Union[Activation, str]] = ..., status: _Optional[_Union[CensusStatus, str]] = ..., sources: _Optional[_Iterable[str]] = ..., origin: _Optional[_Union[Origin, _Mapping]] = ..., camera_id: _Optional[str] = ..., cloud: _Optional[_Mapping[str, str]] = ..., announced_address: _Optional[str] = ...) -> None: ...

class CensusReport(_message.Message):
    __slots__ = ("agent_id", "devices", "seq", "at", "sent", "truncated", "notes", "duration_s", "census_id", "part", "parts")
    class SentEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    CENSUS_ID_FIELD_NUMBER: _ClassVar[int]
    PART_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    devices: _containers.RepeatedCompositeFieldContainer[CensusDevice]
    seq: int
    at: _timestamp_pb2.Timestamp
    sent: _containers.ScalarMap[str, int]
    truncated: bool
    notes: _containers.RepeatedScalarFieldContainer[str]
    duration_s: float
    census_id: str
    part: int
    parts: int
    def __init__(self, agent_id: _Optional[str] = ..., devices: _Optional[_Iterable[_Union[CensusDevice, _Mapping]]] = ..., seq: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sent: _Optional[_Mapping[str, int]] = ..., truncated: _Optional[bool] = ..., notes: _Optional[_Iterable[str]] = ..., duration_s: _Optional[float] = ..., census_id: _Optional[str] = ..., part: _Optional[int] = ..., parts: _Optional[int] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("agent_id", "kind", "camera_id", "message", "at", "details", "seq")
    class DetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    kind: EventKind
    camera_id: str
    message: str
    at: _timestamp_pb2.Timestamp
    details: _containers.ScalarMap[str, str]
    seq: int
    def __init__(self, agent_id: _Optional[str] = ..., kind: _Optional[_Union[EventKind, str]] = ..., camera_id: _Optional[str] = ..., message: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., details: _Optional[_Mapping[str, str]] = ..., seq: _Optional[int] = ...) -> None: ...
