"""Reviewable camsim fleet data: models, firmware strings, OUIs, OEM rebrands, personality defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from camsim.model import Personality

# Provenance tags used in comments and in `Firmware.source`:
#   "fixture"  = recorded from a real device (../shared/fixtures)
#   "vendors"  = quoted in ../shared/VENDORS.md from a primary/secondary source
#   "plausible"= realistic shape for the maker, but the exact model/firmware pairing is illustrative


@dataclass(frozen=True)
class Firmware:
    """One firmware build as ONVIF FirmwareVersion reports it."""

    version: str
    cves: tuple[str, ...] = ()  # known CVE ranges this build falls into (truth for tests/demo only)
    source: str = "plausible"
    # Hikvision ISAPI deviceInfo extras (encoderVersion, firmwareVersionInfo ...) recorded next to the build.
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Model:
    """A camera model as some brand sells it, and who really made it."""

    maker: Personality  # true maker / personality: hikvision, dahua, axis, generic
    brand: str  # reported manufacturer (ONVIF Manufacturer, vendor API vendor)
    name: str  # model as reported
    firmwares: tuple[Firmware, ...]
    base_model: str | None = None  # the maker's own model behind it (Dahua updateSerial)
    device_type: str = "IPCamera"
    hardware_id: str = ""
    oem: bool = False  # True when `brand` is a rebrand of `maker`
    channels: int = 0  # recorders: how many IP channels (PoE ports count among them)
    profile: str = ""  # a FOREIGN server profile (generic makers only)


# ---------------------------------------------------------------------------------------------------------
# OUIs (IEEE MA-L), from fixtures/oui_hik_dahua.txt; Axis ones from the IEEE registry (00:40:8C, AC:CC:8E,
# B8:A4:4F). Only a representative subset is used per maker; every entry is a real registration.
HIKVISION_OUIS: tuple[str, ...] = (
    "28:57:be", "44:19:b6", "4c:bd:8f", "54:c4:15", "58:03:fb", "bc:ad:28", "c0:56:e3", "c4:2f:90",
    "e0:ca:3c", "a4:14:37", "18:68:cb", "8c:e7:48", "bc:ba:c2", "24:28:fd", "c0:6d:ed", "98:df:82",
)  # fmt: skip
DAHUA_OUIS: tuple[str, ...] = (
    "3c:ef:8c", "4c:11:bf", "90:02:a9", "a0:bd:1d", "bc:32:5f", "e0:50:8b", "14:a7:8b", "38:af:29",
    "9c:14:63", "e4:24:6c", "f4:b1:c2", "fc:5f:49", "08:ed:ed", "30:dd:aa", "40:7a:a4",
)  # fmt: skip
AXIS_OUIS: tuple[str, ...] = ("00:40:8c", "ac:cc:8e", "b8:a4:4f")
# Amcrest registered its own MA-L blocks and Amcrest-branded cameras ship with them (9C:8E:CD is the one
# seen on Amcrest IP cameras); the Dahua lineage then shows only in firmware/CGI/scope shape, not in the MAC.
AMCREST_OUIS: tuple[str, ...] = ("9c:8e:cd", "a0:60:32")
# Lorex's own 00:1F:54 dates from its pre-Dahua DVR era; Dahua-made Lorex IP cameras carry Dahua MACs [U],
# so Lorex and CP PLUS use DAHUA_OUIS.
LOREX_OUIS: tuple[str, ...] = ("00:1f:54",)
# The generic brand is made up and owns no OUI: use a locally administered prefix (bit 0x02 set) rather than
# borrowing a real company's registration.
GENERIC_OUIS: tuple[str, ...] = ("02:ac:4d",)

# brand -> OUIs its MACs are drawn from (the maker's unless the OEM has its own, see above)
BRAND_OUIS: dict[str, tuple[str, ...]] = {
    "HIKVISION": HIKVISION_OUIS,
    "LTS": HIKVISION_OUIS,
    "Annke": HIKVISION_OUIS,
    "HiWatch": HIKVISION_OUIS,
    "Dahua": DAHUA_OUIS,
    "Amcrest": AMCREST_OUIS,
    "Lorex": DAHUA_OUIS,
    "CP PLUS": DAHUA_OUIS,
    "AXIS": AXIS_OUIS,
    "Acme": GENERIC_OUIS,
    "Nordlys": GENERIC_OUIS,
    "Pyrocam": GENERIC_OUIS,
    "Solstice": GENERIC_OUIS,
    "Kestrel": GENERIC_OUIS,
}

# Every OUI that may legitimately appear for a true maker (OEM-owned blocks included).
MAKER_OUIS: dict[str, frozenset[str]] = {
    "hikvision": frozenset(HIKVISION_OUIS),
    "dahua": frozenset(DAHUA_OUIS + AMCREST_OUIS),
    "axis": frozenset(AXIS_OUIS),
    "generic": frozenset(GENERIC_OUIS),
}

# ---------------------------------------------------------------------------------------------------------
# Hikvision. ONVIF combines version and build ("V5.5.0 build 170725"); ISAPI splits them.
_HIK_OLD = (("encoderVersion", "V5.0 build 140714"), ("telecontrolID", "2"))  # DS-2CD2532F-IWS fixture
_HIK_G1 = (
    ("encoderVersion", "V7.3 build 190910"),
    ("firmwareVersionInfo", "B-R-G1-0"),
    ("telecontrolID", "88"),
)
_HIK_G5 = (
    ("encoderVersion", "V7.3 build 240801"),
    ("firmwareVersionInfo", "B-R-G5-0"),
    ("telecontrolID", "88"),
)
_CVE_7921 = "CVE-2017-7921"
_CVE_36260 = "CVE-2021-36260"

HIK_MODELS: tuple[Model, ...] = (
    # DS-2CD2xx2F-I / 2xx2FWD families: CVE-2017-7921 ranges from the nuclei template (VENDORS.md §3).
    Model("hikvision", "HIKVISION", "DS-2CD2532F-IWS", (
        Firmware("V5.2.0 build 140721", (_CVE_7921,), "fixture", _HIK_OLD),
        Firmware("V5.4.0 build 160530", (_CVE_7921, _CVE_36260), "vendors", _HIK_OLD),
    ), hardware_id="88"),
    Model("hikvision", "HIKVISION", "DS-2CD2132F-IS", (
        Firmware("V5.2.0 build 140721", (_CVE_7921,), "vendors", _HIK_OLD),
        Firmware("V5.3.0 build 151016", (_CVE_7921,), "plausible", _HIK_OLD),
    ), hardware_id="88"),
    Model("hikvision", "HIKVISION", "DS-2CD2142FWD-I", (
        Firmware("V5.4.0 build 160530", (_CVE_7921, _CVE_36260), "vendors", _HIK_OLD),
        # metasploit notes this exact build as NOT affected by CVE-2021-36260 (VENDORS.md §3)
        Firmware("V5.5.0 build 170725", (), "vendors", _HIK_OLD),
    ), hardware_id="88"),
    # CVE-2021-36260 era: builds from ~2016 up to before June 2021.
    Model("hikvision", "HIKVISION", "DS-2CD2143G0-I", (
        Firmware("V5.5.101 build 200408", (_CVE_36260,), "vendors", _HIK_G1),
        Firmware("V5.6.3 build 190923", (_CVE_36260,), "plausible", _HIK_G1),
    ), hardware_id="88"),
    Model("hikvision", "HIKVISION", "DS-2CD2443G0-IW", (
        Firmware("V5.6.5 build 200316", (_CVE_36260,), "fixture", _HIK_G1),
    ), hardware_id="88"),
    # Recent, fixed builds (fixtures).
    Model("hikvision", "HIKVISION", "DS-2CD2146G2-ISU", (
        Firmware("V5.7.17 build 240606", (), "fixture", _HIK_G5),
        Firmware("V5.7.18 build 240826", (), "fixture", _HIK_G5),
    ), hardware_id="88"),
    Model("hikvision", "HIKVISION", "DS-2CD2386G2-IU", (
        Firmware("V5.7.18 build 240826", (), "fixture", _HIK_G5),
    ), hardware_id="88"),
    Model("hikvision", "HIKVISION", "DS-2CD2T46G2-ISU/SL", (
        Firmware("V5.7.18 build 240826", (), "fixture", _HIK_G5),
    ), hardware_id="88"),
    Model("hikvision", "HIKVISION", "DS-2SE4C425MWG-E-26", (
        Firmware("V5.8.1 build 240929", (), "fixture", (("encoderVersion", "V7.3 build 240925"),
                                                        ("firmwareVersionInfo", "B-R-G7-0"),
                                                        ("telecontrolID", "88"))),
    ), device_type="IPDome", hardware_id="88"),
)  # fmt: skip

# Hikvision-made rebrands: Hikvision firmware format, ISAPI, SOAP namespaces, realm and OUIs are kept.
HIK_OEM_MODELS: tuple[Model, ...] = (
    # HiWatch HWI-B120-D/W V5.5.101 build 200408 was exploited via CVE-2021-36260 (metasploit, VENDORS.md §3).
    Model("hikvision", "HiWatch", "HWI-B120-D/W", (
        Firmware("V5.5.101 build 200408", (_CVE_36260,), "vendors", _HIK_G1),
    ), base_model="DS-2CD1023G0-I", hardware_id="88", oem=True),
    Model("hikvision", "LTS", "CMIP7422W-28M", (
        Firmware("V5.4.5 build 170123", (_CVE_36260,), "plausible", _HIK_OLD),
        Firmware("V5.7.3 build 220112", (), "plausible", _HIK_G5),
    ), base_model="DS-2CD2742FWD-IZS", hardware_id="88", oem=True),
    Model("hikvision", "Annke", "I91BN", (
        Firmware("V5.5.71 build 191108", (_CVE_36260,), "plausible", _HIK_G1),
    ), base_model="DS-2CD2085G1-I", hardware_id="88", oem=True),
)  # fmt: skip

# ---------------------------------------------------------------------------------------------------------
# Dahua. ONVIF FirmwareVersion "2.800.0000016.0.R, build: 2020-06-05"; magicBox getSoftwareVersion sends
# "version=2.800.0000016.0.R,build:2020-06-05" (fixture).
_CVE_33044 = "CVE-2021-33044"  # IPC-HX3XXX / HX5XXX families, builds before the Sept 2021 advisory

DAHUA_MODELS: tuple[Model, ...] = (
    Model("dahua", "Dahua", "IPC-HDW5831R-ZE", (
        Firmware("2.800.0000016.0.R, build: 2020-06-05", (_CVE_33044,), "fixture"),
    ), base_model="IPC-HDW5830R-Z", hardware_id="1.00"),
    Model("dahua", "Dahua", "IPC-HFW5442E-ZE", (
        Firmware("2.800.0000000.25.R, build: 2020-06-18", (_CVE_33044,), "vendors"),
        Firmware("2.800.0000000.41.R, build: 2023-03-14", (), "plausible"),
    ), base_model="IPC-HFW5442E-ZE", hardware_id="1.00"),
    Model("dahua", "Dahua", "IPC-HDW3441T-ZAS", (
        Firmware("2.820.0000000.12.R, build: 2021-02-22", (_CVE_33044,), "plausible"),
        Firmware("2.840.0000000.18.R, build: 2023-09-05", (), "plausible"),
    ), base_model="IPC-HDW3441T-ZAS", hardware_id="1.00"),
    # The HDW1230T2 is named in a recorded Dahua discovery capture (VENDORS.md §2). HX1XXX is not in the
    # CVE-2021-33044 family list.
    Model("dahua", "Dahua", "IPC-HDW1230T2", (
        Firmware("2.622.0000000.31.R, build: 2019-03-11", (), "plausible"),
    ), base_model="IPC-HDW1230T2", hardware_id="1.00"),
    Model("dahua", "Dahua", "IPC-HFW3849T1-AS-PV", (
        Firmware("2.840.0000000.16.R, build: 2024-01-22", (), "plausible"),
    ), base_model="IPC-HFW3849T1-AS-PV", hardware_id="1.00"),
)  # fmt: skip

# Dahua-made rebrands: Dahua firmware format (OEM code in the version), CGI, scope shape; getVendor answers
# the OEM name while getSystemInfo updateSerial keeps the Dahua base model.
DAHUA_OEM_MODELS: tuple[Model, ...] = (
    # "Amcrest_IPC-AWXX_Eng_N_V2.420.AC00.15.R.20160908" appears in python-amcrest (VENDORS.md §5).
    Model("dahua", "Amcrest", "IP4M-1026B", (
        Firmware("2.420.AC00.15.R, build: 2016-09-08", (), "vendors"),
        Firmware("2.800.00AC006.0.R, build: 2021-02-09", (_CVE_33044,), "plausible"),
    ), base_model="IPC-HFW1435S-W", hardware_id="1.00", oem=True),
    Model("dahua", "Lorex", "LNB8921B", (
        Firmware("2.800.05LX001.0.R, build: 2020-11-18", (_CVE_33044,), "plausible"),
    ), base_model="IPC-HFW5831E-ZE", hardware_id="1.00", oem=True),
    # CP PLUS hardware scope "CP-UNC-..." is in the recorded capture (VENDORS.md §2).
    Model("dahua", "CP PLUS", "CP-UNC-TA21PL3", (
        Firmware("2.622.00CP000.0.R, build: 2019-01-24", (), "plausible"),
    ), base_model="IPC-HFW1230S", hardware_id="1.00", oem=True),
)  # fmt: skip

# ---------------------------------------------------------------------------------------------------------
AXIS_MODELS: tuple[Model, ...] = (
    Model("axis", "AXIS", "M1065-LW", (Firmware("9.10.1", (), "fixture"),), hardware_id="70E"),
    Model("axis", "AXIS", "P3245-LVE", (Firmware("10.12.165", (), "plausible"),), hardware_id="7A4"),
    Model("axis", "AXIS", "P1448-LE", (Firmware("11.11.73", (), "plausible"),), hardware_id="93B"),
)
# Axis build dates as param.cgi Properties.Firmware.BuildDate reports them.
AXIS_BUILD_DATES: dict[str, str] = {
    "9.10.1": "Feb 15 2019 09:42",  # fixture
    "10.12.165": "Aug 29 2022 11:05",
    "11.11.73": "Oct 04 2024 08:31",
}

# Generic: a made-up brand that implements ONVIF only (no vendor API, fewer optional operations).
GENERIC_MODELS: tuple[Model, ...] = (
    Model("generic", "Acme", "AV-IPC2210", (Firmware("1.4.2"), Firmware("2.0.7")), hardware_id="1.0"),
    Model("generic", "Acme", "AV-IPD4120", (Firmware("2.1.0"),), hardware_id="1.0"),
)

# ---------------------------------------------------------------------------------------------------------
# Recorders (NVRs). The DS-7608NXI-I2/8P/S deviceInfo, capabilities and InputProxy channel list are recorded
# (fixtures/hikvision_devices/DS-7608NXI-I2.json, firmware V4.62.210 build 230619); the other model names follow
# the makers' published naming (VENDORS.md §5 lists DS-7616NI, DS-7732NI-M4) and their firmware pairings are
# illustrative. Dahua NVR firmware keeps the Dahua x.yyy.zzzzzzz.n.R shape [U: NVR builds were not recorded].
_HIK_NVR = (("encoderVersion", "V5.0 build 230530"), ("telecontrolID", "255"))
RECORDER_MODELS: tuple[Model, ...] = (
    Model("hikvision", "HIKVISION", "DS-7608NXI-I2/8P/S", (
        Firmware("V4.62.210 build 230619", (), "fixture", _HIK_NVR),
    ), device_type="NVR", hardware_id="0100000092010000", channels=8),
    Model("hikvision", "HIKVISION", "DS-7604NI-K1/4P", (
        Firmware("V4.30.085 build 200916", (), "plausible", _HIK_NVR),
    ), device_type="NVR", hardware_id="0100000092010000", channels=4),
    Model("hikvision", "HIKVISION", "DS-7616NI-Q2/16P", (
        Firmware("V4.61.025 build 220415", (), "plausible", _HIK_NVR),
    ), device_type="NVR", hardware_id="0100000092010000", channels=16),
    Model("hikvision", "HIKVISION", "DS-7732NI-M4/16P", (
        Firmware("V4.71.105 build 240108", (), "plausible", _HIK_NVR),
    ), device_type="NVR", hardware_id="0100000092010000", channels=32),
    # LTS sells Hikvision-made recorders under LTN/LTD model names [S: VENDORS.md §5 LTS is a Hikvision OEM].
    Model("hikvision", "LTS", "LTN8708K-P8", (
        Firmware("V4.30.085 build 200916", (), "plausible", _HIK_NVR),
    ), base_model="DS-7608NI-K2/8P", device_type="NVR", hardware_id="0100000092010000", oem=True, channels=8),
    Model("dahua", "Dahua", "NVR4104HS-P-4KS2", (
        Firmware("4.001.0000000.3.R, build: 2020-09-03", (), "plausible"),
    ), base_model="NVR4104HS-P-4KS2", device_type="NVR", hardware_id="1.00", channels=4),
    Model("dahua", "Dahua", "NVR4108-8P-4KS2", (
        Firmware("4.001.0000000.5.R, build: 2021-06-11", (), "plausible"),
    ), base_model="NVR4108-8P-4KS2", device_type="NVR", hardware_id="1.00", channels=8),
    Model("dahua", "Dahua", "NVR5216-16P-4KS2E", (
        Firmware("4.001.0000000.7.R, build: 2022-03-30", (), "plausible"),
    ), base_model="NVR5216-16P-4KS2E", device_type="NVR", hardware_id="1.00", channels=16),
    Model("dahua", "Dahua", "NVR5432-16P-4KS2E", (
        Firmware("4.001.0000000.7.R, build: 2022-03-30", (), "plausible"),
    ), base_model="NVR5432-16P-4KS2E", device_type="NVR", hardware_id="1.00", channels=32),
    # Lorex sold Dahua-made NVRs; getVendor answers Lorex while updateSerial keeps the Dahua base [U pairing].
    Model("dahua", "Lorex", "N841A81", (
        Firmware("4.001.05LX000.0.R, build: 2020-07-22", (), "plausible"),
    ), base_model="NVR4108HS-8P-4KS2", device_type="NVR", hardware_id="1.00", oem=True, channels=8),
)  # fmt: skip
# The recorder's own address on the network its PoE ports serve (the cameras there are reachable only through
# it). Hikvision NVRs default their internal NIC to 192.168.254.1, Dahua to 10.1.1.1 [U: installers' lore,
# not found in a manual here]; the hidden cameras get the addresses after it.
POE_SUBNET: dict[str, str] = {"hikvision": "192.168.254.0/24", "dahua": "10.1.1.0/24"}
# Foreign servers: ONVIF implementations nobody here wrote behave like these on everything that is not their
# ONVIF service (issue 12: each one made an agent that probed vendor APIs by habit fail the camera).


@dataclass(frozen=True)
class ForeignProfile:
    """How one independent server behaves, beyond the ONVIF operations camsim shares with every camera."""

    web: str  # model.WebBehaviour
    banner: str | None
    auth_modes: tuple[str, ...]
    soap_reply_version: str = ""
    onvif_ops: tuple[str, ...] | None = None
    preauth_open: bool = True
    capabilities: tuple[str, ...] = ("ZeroConfiguration", "NTP")
    ntp_count: int | None = None


# What a minimal ONVIF-only device (a Node.js implementation in the issue) implements: reads, and the few
# writes it honours; every other operation faults env:Receiver/ter:ActionNotSupported.
MINIMAL_OPS: tuple[str, ...] = (
    "GetSystemDateAndTime", "GetDeviceInformation", "GetServices", "GetServiceCapabilities", "GetCapabilities",
    "GetScopes", "GetNetworkInterfaces", "GetNetworkProtocols", "GetDNS", "SetDNS", "GetNTP", "SetNTP",
    "GetNetworkDefaultGateway", "SetNetworkDefaultGateway", "GetDiscoveryMode", "GetHostname", "GetUsers",
    "SystemReboot",
)  # fmt: skip

FOREIGN: dict[str, ForeignProfile] = {
    # A lighttpd-fronted firmware: 403 to any *.cgi path, with or without credentials.
    "cgi_forbidden": ForeignProfile("cgi_forbidden", "lighttpd/1.4.59", ("digest", "wsse")),
    # ipycam-like: HTTP Basic on every non-ONVIF path, WS-UsernameToken only, no anonymous ONVIF call at all.
    "basic_only": ForeignProfile("basic_only", "BaseHTTP/0.6 Python/3.11", ("wsse",), preauth_open=False),
    # Minimal ONVIF-only device: a handful of operations, IP filter capability false, Network@NTP a count of
    # 0 while GetNTP answers, 405 on every other path.
    "minimal": ForeignProfile(
        "method_not_allowed", None, ("wsse",), onvif_ops=MINIMAL_OPS, capabilities=("NTP",), ntp_count=0
    ),
    # Older gSOAP firmware: SOAP 1.1 replies to SOAP 1.2 requests, connection dropped on unknown POSTs.
    "soap11": ForeignProfile(
        "drop_post",
        "gSOAP/2.7",
        ("digest",),
        soap_reply_version="1.1",
        capabilities=("IPFilter", "ZeroConfiguration", "NTP"),
    ),
}

FOREIGN_MODELS: tuple[Model, ...] = (
    Model("generic", "Nordlys", "NL-IPC200", (Firmware("3.2.1"),), hardware_id="A1", profile="cgi_forbidden"),
    Model("generic", "Pyrocam", "PV-1", (Firmware("1.3.0"),), hardware_id="py", profile="basic_only"),
    Model("generic", "Solstice", "SL-ONVIF-LITE", (Firmware("0.9.4"),), hardware_id="1", profile="minimal"),
    Model("generic", "Kestrel", "KX-300", (Firmware("2.0.11"),), hardware_id="K3", profile="soap11"),
)

ALL_MODELS: tuple[Model, ...] = (
    HIK_MODELS
    + HIK_OEM_MODELS
    + DAHUA_MODELS
    + DAHUA_OEM_MODELS
    + AXIS_MODELS
    + GENERIC_MODELS
    + RECORDER_MODELS
    + FOREIGN_MODELS
)
OEM_MODELS: tuple[Model, ...] = HIK_OEM_MODELS + DAHUA_OEM_MODELS
MODELS_BY_KIND: dict[str, tuple[Model, ...]] = {
    "hikvision": HIK_MODELS,
    "dahua": DAHUA_MODELS,
    "axis": AXIS_MODELS,
    "generic": GENERIC_MODELS,
    "oem": OEM_MODELS,
    "foreign": FOREIGN_MODELS,
}
FLEET_KINDS: tuple[str, ...] = ("hikvision", "dahua", "axis", "generic", "oem", "foreign")


def find_model(name: str) -> Model:
    """The catalog model named `name` (as reported), or KeyError."""
    for m in ALL_MODELS:
        if m.name == name:
            return m
    raise KeyError(name)


def find_firmware(version: str) -> Firmware | None:
    """The catalog entry of a firmware string, if it is one of ours."""
    for m in ALL_MODELS:
        for fw in m.firmwares:
            if fw.version == version:
                return fw
    return None


# ---------------------------------------------------------------------------------------------------------
# Personality defaults (VENDORS.md §3-4, issue 3).


@dataclass(frozen=True)
class PersonalityDefaults:
    onvif_manufacturer_upper: bool  # Hikvision ONVIF reports "HIKVISION"
    lockout_threshold: int
    lockout_seconds: float
    connection_limit: int
    capabilities: tuple[str, ...]
    # feature -> probability it is ON as the camera is found (seeded draw per camera)
    feature_share: dict[str, float] = field(default_factory=dict)
    feature_detail: dict[str, str] = field(default_factory=dict)
    ntp: tuple[str, ...] = ("pool.ntp.org",)


PERSONALITY: dict[str, PersonalityDefaults] = {
    # Illegal Login Lock: 7 failures, 30 minutes (Hikvision manuals, VENDORS.md §3); 503 past the limit.
    "hikvision": PersonalityDefaults(
        onvif_manufacturer_upper=True,
        lockout_threshold=7,
        lockout_seconds=1800.0,
        connection_limit=20,
        capabilities=("IPFilter", "ZeroConfiguration", "IPVersion6", "DynDNS", "NTP"),
        # Older firmware shipped Hik-Connect/EZVIZ and UPnP on; G5 firmware asks at activation. Telnet only
        # survives on very old builds, so keep it rare.
        feature_share={
            "ezviz": 0.55,
            "ehome": 0.15,
            "upnp": 0.5,
            "upnp_portmap": 0.3,
            "ddns": 0.2,
            "telnet": 0.05,
            "ssh": 0.2,
        },
        feature_detail={
            "ezviz.server": "litedev.hik-connect.com",
            "ehome.server": "0.0.0.0",
            "ddns.provider": "HiDDNS",
            "ddns.server": "www.hik-online.com",
        },
        ntp=("time.windows.com",),
    ),
    # General.LockLoginTimes=5, LoginFailLockTime=1800 observed on one unit (VENDORS.md §4); 401 past limit.
    "dahua": PersonalityDefaults(
        onvif_manufacturer_upper=False,
        lockout_threshold=5,
        lockout_seconds=1800.0,
        connection_limit=20,
        capabilities=("IPFilter", "ZeroConfiguration", "NTP"),
        feature_share={"t2u": 0.65, "upnp": 0.45, "upnp_portmap": 0.2, "ddns": 0.15, "telnet": 0.1},
        feature_detail={
            "t2u.server": "www.easy4ipcloud.com",
            "ddns.provider": "Dahua DDNS",
            "ddns.server": "www.dahuaddns.com",
        },
        ntp=("clock.isc.org",),
    ),
    # AXIS OS has no lockout by default (brute-force prevention is opt-in): model it as unreachable.
    "axis": PersonalityDefaults(
        onvif_manufacturer_upper=True,
        lockout_threshold=1_000_000,
        lockout_seconds=0.0,
        connection_limit=50,
        capabilities=("IPFilter", "ZeroConfiguration", "IPVersion6", "DynDNS", "NTP"),
        # M1065-LW fixture: RemoteService.Enabled=oneclick, Network.UPnP.Enabled=yes, NATTraversal no.
        feature_share={"remote_service": 0.35, "upnp": 0.7, "upnp_portmap": 0.05},
        feature_detail={
            "remote_service.mode": "oneclick",
            "remote_service.servers": "dispatchse1-st.axis.com:443,dispatcher-st.axis.com:443",
        },
    ),
    # Generic ONVIF-only camera: no IP filter, no DynDNS, no vendor cloud.
    "generic": PersonalityDefaults(
        onvif_manufacturer_upper=False,
        lockout_threshold=5,
        lockout_seconds=600.0,
        connection_limit=10,
        capabilities=("ZeroConfiguration", "NTP"),
    ),
}

# ONVIF scope country per brand (Dahua lineage keeps the `extension/unique_identifier` shape under rebrands).
BRAND_COUNTRY: dict[str, str] = {"Dahua": "china", "Amcrest": "china", "Lorex": "china", "CP PLUS": "India"}
