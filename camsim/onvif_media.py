"""ONVIF Media GetVideoSources and, on recorders, Profile G GetRecordings: how a recorder lists its channels."""

from __future__ import annotations

from camsim import soap
from camsim.onvif_common import Ctx, x
from camsim.recorders import lookup_of

NS_TRT = "http://www.onvif.org/ver10/media/wsdl"
NS_TRC = "http://www.onvif.org/ver10/recording/wsdl"


def get_video_sources(ctx: Ctx) -> str:
    """One source per camera; a recorder exposes one per channel (how ONVIF clients count NVR channels)."""
    cam = ctx.camera
    count = len(cam.channels) if cam.is_recorder else 1
    sources = "".join(
        f'<trt:VideoSources token="VideoSource_{n}"><tt:Framerate>25</tt:Framerate>'
        "<tt:Resolution><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height></tt:Resolution></trt:VideoSources>"
        for n in range(1, count + 1)
    )
    return f'<trt:GetVideoSourcesResponse xmlns:trt="{NS_TRT}">{sources}</trt:GetVideoSourcesResponse>'


def get_recordings(ctx: Ctx) -> str:
    """Profile G: each recording names its source; Source/Address is "the URI provided by the service supplying
    data to be recorded" (ONVIF Recording Control spec), here the camera's RTSP address as the recorder uses it.
    Cameras have no recording service and answer ActionNotSupported."""
    cam = ctx.camera
    if not cam.is_recorder:
        raise soap.action_not_supported()
    lookup = lookup_of(ctx.request)
    items = []
    for ch in cam.channels:
        feeder = lookup(ch.camera_id)
        model = feeder.identity.model if feeder is not None else ""
        items.append(
            "<trc:RecordingItem>"
            f"<tt:RecordingToken>Recording_{ch.number:03d}</tt:RecordingToken>"
            "<tt:Configuration><tt:Source>"
            f"<tt:SourceId>VideoSource_{ch.number}</tt:SourceId><tt:Name>{x(ch.name)}</tt:Name>"
            f"<tt:Location></tt:Location><tt:Description>{x(model)}</tt:Description>"
            f"<tt:Address>rtsp://{x(ch.address)}:554/</tt:Address>"
            "</tt:Source><tt:Content>Channel recording</tt:Content>"
            "<tt:MaximumRetentionTime>PT0S</tt:MaximumRetentionTime></tt:Configuration>"
            "<tt:Tracks><tt:Track><tt:TrackToken>VIDEO001</tt:TrackToken><tt:Configuration>"
            "<tt:TrackType>Video</tt:TrackType><tt:Description>video</tt:Description>"
            "</tt:Configuration></tt:Track></tt:Tracks>"
            "</trc:RecordingItem>"
        )
    return f'<trc:GetRecordingsResponse xmlns:trc="{NS_TRC}">{"".join(items)}</trc:GetRecordingsResponse>'


HANDLERS = {
    (NS_TRT, "GetVideoSources"): get_video_sources,
    (NS_TRC, "GetRecordings"): get_recordings,
}
