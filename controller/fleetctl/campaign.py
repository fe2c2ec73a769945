"""fleetctl campaign create|plan|preview|start|pause|resume|abort|rollback|status|list; fleetctl approve."""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import getpass
import json
import os
import re
import stat
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.fleetctl.base import API, Context, Parser, SubParsers, usage
from controller.fleetctl.http import EXIT_HELP, Exit, FleetctlError
from controller.fleetctl.output import ProgressBar, table, when
from controller.fleetctl.params import add_network_flags, network_params, split_list
from controller.fleetctl.where import WhereError, add_filter_flags, filters_from_args, where_body

if TYPE_CHECKING:
    # Imported where used: protobuf and the signing code cost every other fleetctl command ~0.3 s at start.
    from protos.camfleet.v1 import camfleet_pb2 as pb
    from protos.keys import SigningKey

STAGES = ("disable_cloud", "restrict_network", "decommission")  # controller.campaigns.planner.STAGES
# Batches in these states are done; a campaign in these states moves no further on its own.
FINAL_BATCH = frozenset({"SUCCEEDED", "ABORTED", "ROLLED_BACK"})
FINAL_CAMPAIGN = frozenset({"COMPLETED", "ABORTED"})
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _cid(value: str) -> str:
    """Ids go into URL paths: refuse anything that could change the path (`..`, `/`, `?`)."""
    if not re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", value) or value in (".", ".."):
        raise usage(f"{value!r} is not a campaign or batch id")
    return value


# ---- maintenance windows ------------------------------------------------------------------------------
def _days(text: str) -> list[int]:
    """`mon-fri`, `sat,sun`, `0-4`, `*` -> weekday numbers (0 = Monday, as the API)."""

    def one(t: str) -> int:
        t = t.strip().lower()
        if t.isdigit() and 0 <= int(t) <= 6:
            return int(t)
        if t[:3] in DAY_NAMES:
            return DAY_NAMES.index(t[:3])
        raise usage(f"--window: {t!r} is not a day (mon..sun or 0..6)")

    if text.strip() in ("*", "all", "daily"):
        return list(range(7))
    out: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            a, b = (one(x) for x in part.split("-", 1))
            out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        else:
            out.add(one(part))
    return sorted(out)


def parse_window(text: str) -> dict[str, Any]:
    """A maintenance window (UTC) as the API takes it, {"days": [...], "start": "HH:MM", "end": "HH:MM"}:
    either that JSON object, or `DAYS@HH:MM-HH:MM` (e.g. `mon-fri@22:00-06:00`), or `HH:MM-HH:MM` (daily)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise usage(f"--window: not valid JSON: {exc}") from exc
        if not isinstance(doc, dict) or not set(doc) <= {"days", "start", "end"}:
            raise usage('--window: a JSON object with "days", "start", "end"')
        return doc
    days, _, span = text.rpartition("@")
    m = re.fullmatch(r"(\d{1,2}:\d{2})-(\d{1,2}:\d{2})", span.strip())
    if m is None:
        raise usage(f"--window: {text!r}: DAYS@HH:MM-HH:MM (UTC), e.g. mon-fri@22:00-06:00")
    return {"days": _days(days) if days else list(range(7)), "start": m[1], "end": m[2]}


# ---- create -------------------------------------------------------------------------------------------
def _stage_params(args: argparse.Namespace, stage: str) -> dict[str, Any]:
    if stage == "disable_cloud":
        return {"features": split_list(args.feature)} if args.feature else {}
    if stage == "restrict_network":
        return network_params(args, clear_switches=False)
    return {"mode": args.mode or "soft", "wipe_users": bool(args.wipe_users)}


def _load_spec(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise usage(f"--spec: cannot read {path}: {exc.strerror}") from exc
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise usage(f"--spec: {path} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise usage(f"--spec: {path} must hold a JSON object (the API's campaign document)")
    return doc


def build_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The POST /campaigns body: --spec FILE (if given) with every flag given on the command line on top."""
    body: dict[str, Any] = _load_spec(args.spec) if args.spec else {}
    try:
        where = filters_from_args(args)
    except WhereError as exc:
        raise usage(str(exc)) from exc
    if args.tags:
        where["tags"] = ",".join(split_list(args.tags))
    if where or args.all_cameras or "where" not in body:
        try:
            body["where"] = where_body(where, all_cameras=args.all_cameras)
        except WhereError as exc:
            raise usage(str(exc)) from exc
    if args.stages:
        names = split_list(args.stages)
        unknown = [n for n in names if n not in STAGES]
        if unknown:
            raise usage(f"--stages: unknown {', '.join(unknown)}; use {','.join(STAGES)}")
        body["stages"] = [{"action": n, "params": _stage_params(args, n)} for n in names]
    elif "stages" not in body:
        raise usage(f"--stages: name at least one of {','.join(STAGES)}")
    if args.name:
        body["name"] = args.name
    body.setdefault("name", f"campaign {time.strftime('%Y-%m-%d %H:%M')}")
    plan = dict(body.get("plan") or {})
    for key, v in (("canary", args.canary), ("growth", args.growth), ("max_batch", args.max_batch)):
        if v is not None:
            plan[key] = v
    if plan:
        body["plan"] = plan
    gate = dict(body.get("gate") or {})
    gate_flags = (
        ("success_threshold", args.success_threshold),
        ("failure_threshold", args.failure_threshold),
        ("min_executed", args.min_executed),
        ("action", args.on_failure),
    )
    for key, v in gate_flags:
        if v is not None:
            gate[key] = v
    if gate:
        body["gate"] = gate
    if args.ttl is not None:
        body["ttl_s"] = args.ttl
    if args.window:
        body["windows"] = [parse_window(w) for w in args.window]
    if args.retry_failed_only is not None:
        body["retry_failed_only"] = args.retry_failed_only
    if args.approvals is not None:
        body["approvals_required"] = args.approvals
    if args.approval_ttl is not None:
        body["approval_ttl_s"] = args.approval_ttl
    if args.preview is not None:
        body["preview"] = args.preview
    if args.expect_cameras is not None:
        body["expect_cameras"] = args.expect_cameras
    return body


def _destructive(body: dict[str, Any]) -> bool:
    return any((s if isinstance(s, str) else str(s.get("action"))) == "decommission" for s in body["stages"])


def _query_of(where: dict[str, Any]) -> dict[str, str]:
    """A JSON selection back as query parameters of GET /cameras (tags are no camera filter there)."""
    out: dict[str, str] = {}
    for k, v in where.items():
        if k in ("tags", "all"):
            continue
        out[k] = ",".join(v) if isinstance(v, list) else str(v).lower() if isinstance(v, bool) else str(v)
    return out


def _sizes(doc: dict[str, Any]) -> list[int]:
    return [int(b.get("size", 0)) for b in doc.get("batches", [])]


async def create(ctx: Context, args: argparse.Namespace) -> int:
    body = build_spec(args)
    if args.print_spec:
        if ctx.out.as_json:
            ctx.out.document(body)
        else:
            ctx.out.text(json.dumps(body, indent=2))
        return Exit.OK
    if _destructive(body) and "expect_cameras" not in body and isinstance(body.get("where"), dict):
        # A destructive campaign acts only on what was previewed: count the selection now, say it, and let
        # the controller refuse the campaign should the selection hold more by the time it plans it.
        doc = await ctx.client.get_json(f"{API}/cameras", {**_query_of(body["where"]), "limit": "1"})
        body["expect_cameras"] = int(doc.get("total", 0))
        ctx.out.note(
            f"the selection holds {body['expect_cameras']} cameras (before retired ones are left out)"
        )
    doc = await ctx.client.post_json(f"{API}/campaigns", body)
    if ctx.out.as_json:
        ctx.out.document(doc)
        return Exit.OK
    cid = doc.get("campaign_id")
    sizes = _sizes(doc)
    ctx.out.text(f"campaign {cid}  {doc.get('name')!r}  {doc.get('state')}")
    stages = " → ".join(str(s.get("action")) for s in (doc.get("spec") or {}).get("stages", []))
    ctx.out.text(f"stages: {stages}")
    ctx.out.text(f"{sum(sizes)} cameras in {len(sizes)} batches: {' + '.join(map(str, sizes))}")
    ctx.out.text()
    ctx.out.text(batch_table(doc))
    waiting = [b["batch_id"] for b in doc.get("batches", []) if b.get("state") == "AWAITING_APPROVAL"]
    if waiting:
        ctx.out.text(
            f"\n{waiting[0]} needs approvals first: fleetctl approve {cid} {waiting[0]} --key KEY.pem"
        )
    ctx.out.text(f"start with: fleetctl campaign start {cid}")
    return Exit.OK


# ---- plan / status ------------------------------------------------------------------------------------
def batch_units(b: dict[str, Any]) -> tuple[int, int]:
    """(done, total) units of work of a batch: one per camera and stage; a finished batch is all done (cameras
    that failed a stage skip the later ones, so they never add up otherwise)."""
    stages = b.get("stages") or []
    total = int(b.get("size", 0)) * max(1, len(stages))
    if b.get("state") in FINAL_BATCH:
        return total, total
    done = 0
    for s in stages:
        c = s.get("counts") or {}
        done += int(c.get("succeeded", 0)) + int(c.get("failed", 0)) + int(c.get("canceled", 0))
    return min(done, total), total


def _current_stage(b: dict[str, Any]) -> dict[str, Any] | None:
    """The stage the batch is at (or last ran)."""
    started = [s for s in b.get("stages") or [] if s.get("started")]
    return started[-1] if started else None


def _progress(b: dict[str, Any]) -> str:
    s = _current_stage(b)
    if s is None:
        return ""
    c = s.get("counts") or {}
    return (f"{s.get('action')} {c.get('succeeded', 0)} ok {c.get('failed', 0)} failed"
            f"{' ' + str(c['canceled']) + ' canceled' if c.get('canceled') else ''}"
            f" / {c.get('total', 0)}")  # fmt: skip


def _gate(b: dict[str, Any]) -> str:
    s = _current_stage(b)
    return str(s.get("gate") or "") if s else ""


def _approvals(b: dict[str, Any]) -> str:
    a = b.get("approval") or {}
    if not a.get("required"):
        return "-"
    return f"{len(a.get('approvers') or [])}/{a['required']}"


def batch_table(doc: dict[str, Any]) -> str:
    rows = [[b.get("batch_id"), b.get("state"), b.get("size"), b.get("stage") or "", _progress(b), _gate(b),
             _approvals(b), b.get("reason")] for b in doc.get("batches", [])]  # fmt: skip
    return table(["batch", "state", "size", "stage", "progress", "gate", "approvals", "reason"], rows)


def plan_table(doc: dict[str, Any]) -> str:
    rows = []
    for b in doc.get("batches", []):
        ids = list(b.get("camera_ids") or [])
        shown = ", ".join(ids[:4]) + (f", … (+{len(ids) - 4})" if len(ids) > 4 else "")
        rows.append([b.get("batch_id"), b.get("state"), b.get("size"), _approvals(b), shown])
    return table(["batch", "state", "size", "approvals", "cameras"], rows, max_width=70)


def settled(doc: dict[str, Any]) -> bool:
    """Nothing will change without a person: finished, paused, not started, or waiting for approvals."""
    state = doc.get("state")
    batches = doc.get("batches", [])
    if any(b.get("state") == "ROLLING_BACK" for b in batches):
        return False
    if state in FINAL_CAMPAIGN or state in ("CREATED", "PAUSED"):
        return True
    moving = [b for b in batches if b.get("state") in ("READY", "RUNNING")]
    return not moving and any(b.get("state") == "AWAITING_APPROVAL" for b in batches)


def status_code(doc: dict[str, Any]) -> Exit:
    """1 when the campaign was aborted or a batch has cameras whose latest try failed."""
    if doc.get("state") == "ABORTED":
        return Exit.FAILURES
    for b in doc.get("batches", []):
        if b.get("state") == "ABORTED":
            return Exit.FAILURES
        if any(int((s.get("counts") or {}).get("failed", 0)) for s in b.get("stages") or []):
            return Exit.FAILURES
    return Exit.OK


def _summary_line(doc: dict[str, Any]) -> str:
    batches = doc.get("batches", [])
    done = sum(1 for b in batches if b.get("state") in FINAL_BATCH)
    reason = f" ({doc['reason']})" if doc.get("reason") else ""
    window = "" if doc.get("in_window", True) else "; outside its maintenance windows"
    return f"campaign {doc.get('campaign_id')}  {doc.get('name')!r}  {doc.get('state')}{reason}  " \
           f"{done}/{len(batches)} batches done{window}"  # fmt: skip


async def _watch(
    ctx: Context, cid: str, wait_s: float | None, interval: float
) -> tuple[dict[str, Any], bool]:
    """Poll the campaign with a progress bar until it settles (or `wait_s` passes); a controller restart in
    between is retried until the deadline."""
    bar = ProgressBar(ctx.out.err, enabled=not ctx.out.quiet)
    deadline = None if wait_s is None else time.monotonic() + wait_s
    warned = False
    doc: dict[str, Any] = {}
    try:
        while True:
            try:
                doc = await ctx.client.get_json(f"{API}/campaigns/{cid}")
            except FleetctlError as exc:
                if exc.code != Exit.UNREACHABLE or not doc or (deadline and time.monotonic() >= deadline):
                    raise
                if not warned:
                    ctx.out.note(f"{exc.message}; retrying")
                    warned = True
                await asyncio.sleep(interval)
                continue
            units = [batch_units(b) for b in doc.get("batches", [])]
            running = [b for b in doc.get("batches", []) if b.get("state") in ("RUNNING", "PAUSED", "READY")]
            detail = f"{doc.get('state')}" + (
                f"  {running[0]['batch_id']} {_progress(running[0])}" if running else ""
            )
            bar.update(sum(u[0] for u in units), sum(u[1] for u in units), detail)
            if settled(doc):
                return doc, True
            if deadline is not None and time.monotonic() >= deadline:
                return doc, False
            left = interval if deadline is None else min(interval, max(0.0, deadline - time.monotonic()))
            await asyncio.sleep(left)
    finally:
        bar.close()


async def status(ctx: Context, args: argparse.Namespace) -> int:
    cid = _cid(args.campaign)
    if args.interval <= 0 or (args.wait_timeout is not None and args.wait_timeout <= 0):
        raise usage("--interval and --wait-timeout: positive seconds")
    if args.watch:
        doc, complete = await _watch(ctx, cid, args.wait_timeout, args.interval)
    else:
        doc, complete = await ctx.client.get_json(f"{API}/campaigns/{cid}"), True
    code = status_code(doc) if complete else Exit.FAILURES
    if ctx.out.as_json:
        if args.plan_view:
            ctx.out.document(await ctx.client.get_json(f"{API}/campaigns/{cid}/plan"))
        else:
            ctx.out.document({**doc, "settled": settled(doc), "exit_code": int(code)})
        return code
    ctx.out.text(_summary_line(doc))
    spec = doc.get("spec") or {}
    if args.plan_view:
        p = spec.get("plan") or {}
        g = spec.get("gate") or {}
        sizes = _sizes(doc)
        ctx.out.text(f"stages: {' → '.join(str(s.get('action')) for s in spec.get('stages', []))}")
        ctx.out.text(f"plan: canary {p.get('canary')}, growth ×{p.get('growth')}, "
                     f"at most {p.get('max_batch')} "
                     f"per batch: {' + '.join(map(str, sizes))} = {sum(sizes)} cameras")  # fmt: skip
        ctx.out.text(f"gate: advance at ≥{g.get('success_threshold')} succeeded; {g.get('action')} at "
                     f"≥{g.get('failure_threshold')} failed once {g.get('min_executed')} executed; "
                     f"timeout {spec.get('ttl_s')} s; "
                     f"retry {'failed only' if spec.get('retry_failed_only') else 'all'}")  # fmt: skip
        for w in spec.get("windows") or []:
            days = ",".join(DAY_NAMES[d] for d in w.get("days", []))
            ctx.out.text(f"window: {days} {w.get('start')}-{w.get('end')} UTC")
        ctx.out.text()
        ctx.out.text(plan_table(doc))
    else:
        ctx.out.text()
        ctx.out.text(batch_table(doc))
    if not complete:
        ctx.out.text(f"not settled yet; follow with: fleetctl campaign status --watch {cid}")
    return code


async def list_campaigns(ctx: Context, args: argparse.Namespace) -> int:
    doc = await ctx.client.get_json(
        f"{API}/campaigns", {"limit": str(args.limit), "offset": str(args.offset)}
    )
    if ctx.out.as_json:
        ctx.out.document(doc)
        return Exit.OK
    rows = [[c.get("campaign_id"), c.get("name"), c.get("state"), c.get("created_by"),
             when(c.get("created_at") or 0), c.get("reason")] for c in doc.get("campaigns", [])]  # fmt: skip
    ctx.out.text(table(["campaign", "name", "state", "by", "created", "reason"], rows))
    return Exit.OK


async def preview(ctx: Context, args: argparse.Namespace) -> int:
    """The dry-run preview: per camera and stage, which settings would change (and which already are so)."""
    doc = await ctx.client.get_json(f"{API}/campaigns/{_cid(args.campaign)}/preview")
    if ctx.out.as_json:
        ctx.out.document(doc)
        return Exit.OK
    out = []
    for cam, stages in sorted((doc.get("cameras") or {}).items()):
        for stage, r in stages.items():
            settings = r.get("settings") or []

            def named(outcome: str, settings: list[dict[str, Any]] = settings) -> list[str]:
                return [str(x.get("setting")) for x in settings if x.get("outcome") == outcome]

            out.append([cam, stage, r.get("state"), ", ".join(named("would_change")) or "-",
                        len(named("already")), len(named("unsupported")), len(named("failed")),
                        r.get("message")])  # fmt: skip
    ctx.out.text(f"dry-run preview ({doc.get('scope')}); {doc.get('pending', 0)} still pending")
    ctx.out.text(table(["camera", "stage", "state", "would change", "already", "unsupported", "failed",
                        "message"], out, max_width=60))  # fmt: skip
    return Exit.OK


# ---- start / pause / resume / abort / rollback --------------------------------------------------------
OP_DONE = {"start": "started", "pause": "paused", "resume": "resumed", "abort": "aborted"}


async def operate(ctx: Context, args: argparse.Namespace) -> int:
    op: str = args.op
    cid = _cid(args.campaign)
    body: dict[str, Any] = {"reason": args.reason} if getattr(args, "reason", None) else {}
    if op == "rollback":
        bid = _cid(args.batch)
        doc = await ctx.client.post_json(f"{API}/campaigns/{cid}/batches/{bid}/rollback", body)
        what = f"batch {bid}: rollback requested (restoring each camera from its snapshot)"
    else:
        doc = await ctx.client.post_json(f"{API}/campaigns/{cid}/{op}", body)
        what = f"campaign {cid} {OP_DONE[op]}: now {doc.get('state')}"
    if ctx.out.as_json:
        ctx.out.document(doc)
        return Exit.OK
    ctx.out.text(what)
    ctx.out.text(batch_table(doc))
    return Exit.OK


# ---- approve ------------------------------------------------------------------------------------------
def action_summary(action: pb.Action) -> str:
    """`decommission (factory reset: hard, wipe users: yes)` from the manifest's own bytes."""
    from google.protobuf import json_format

    from protos.camfleet.v1 import camfleet_pb2 as pb

    kind = action.WhichOneof("kind") or "?"
    if kind == "decommission":
        d = action.decommission
        mode = "hard" if d.mode == pb.FACTORY_RESET_MODE_HARD else "soft"
        return f"decommission (factory reset: {mode}, wipe users: {'yes' if d.wipe_users else 'no'})"
    detail = json_format.MessageToDict(getattr(action, kind), preserving_proto_field_name=True)
    return f"{kind} {json.dumps(detail, sort_keys=True)}" if detail else kind


def read_manifest(doc: dict[str, Any], cid: str, bid: str) -> tuple[bytes, pb.ApprovalManifest]:
    """Decode the bytes to be signed and check them against what the controller says they are: what the
    approver is shown comes from these bytes, not from the controller's description."""
    from google.protobuf.message import DecodeError

    from protos.camfleet.v1 import camfleet_pb2 as pb
    from protos.envelope import manifest_digest

    try:
        raw = base64.b64decode(str(doc.get("manifest_b64", "")), validate=True)
        m = pb.ApprovalManifest.FromString(raw)
    except (binascii.Error, ValueError, DecodeError) as exc:
        raise FleetctlError(
            "the controller sent a manifest that cannot be decoded; not signing", Exit.UNREACHABLE
        ) from exc
    if manifest_digest(raw) != doc.get("digest"):
        raise FleetctlError("the manifest does not hash to the digest the controller sent; not signing",
                            Exit.UNREACHABLE)  # fmt: skip
    if (m.campaign_id, m.batch_id) != (cid, bid):
        raise FleetctlError(f"the controller sent the manifest of {m.campaign_id}/{m.batch_id}, "
                            f"not {cid}/{bid}; "
                            "not signing", Exit.UNREACHABLE)  # fmt: skip
    described = doc.get("describe") or {}
    if described and list(described.get("camera_ids") or []) != list(m.camera_ids):
        raise FleetctlError("the controller's description does not match the manifest; not signing",
                            Exit.UNREACHABLE)  # fmt: skip
    return raw, m


def manifest_text(raw: bytes, m: pb.ApprovalManifest) -> str:
    from protos.envelope import manifest_digest

    expires = m.not_after.ToDatetime().strftime("%Y-%m-%d %H:%M UTC") if m.HasField("not_after") else "never"
    cams = list(m.camera_ids)
    lines = [
        f"campaign {m.campaign_id}  batch {m.batch_id}",
        f"action:  {action_summary(m.action)}",
        f"cameras: {len(cams)}",
        *(f"  {c}" for c in cams),
        f"valid until: {expires}",
        f"digest (SHA-256 of the manifest): {manifest_digest(raw)}",
    ]
    return "\n".join(lines)


def _passphrase(args: argparse.Namespace, prompt: str, *, confirm: bool = False) -> bytes | None:
    """From the named env var, else asked on the terminal; never echoed or printed."""
    if args.passphrase_env:
        value = os.environ.get(args.passphrase_env)
        if value is None:
            raise usage(f"--passphrase-env: {args.passphrase_env} is not set")
        return value.encode() or None
    if not sys.stdin.isatty():
        return None
    first = getpass.getpass(prompt)
    if confirm and first and getpass.getpass("again: ") != first:
        raise usage("the passphrases differ")
    return first.encode() or None


def load_key(args: argparse.Namespace) -> SigningKey:
    from protos.keys import SigningKey

    path = Path(args.key)
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
    except OSError as exc:
        raise usage(f"--key: cannot read {args.key}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # As ssh does: a private key others can read is not private (the signature proves nothing then).
        sys.stderr.write(f"fleetctl: warning: {args.key} is readable by others; chmod 600 it\n")
    # PKCS#8 PEM says so in its armour: "-----BEGIN ENCRYPTED PRIVATE KEY-----".
    encrypted = b"BEGIN ENCRYPTED PRIVATE KEY" in data
    passphrase = _passphrase(args, f"passphrase for {path.name}: ") if encrypted else None
    if encrypted and passphrase is None:
        raise usage(f"--key: {args.key} is encrypted; give --passphrase-env VAR or run on a terminal")
    try:
        return SigningKey.from_pem(data, passphrase if encrypted else None)
    except (ValueError, TypeError) as exc:
        # Never the exception text: it could hold parts of the key file.
        why = (
            "wrong passphrase, or not an Ed25519 private key"
            if encrypted
            else "not an Ed25519 private key (PEM)"
        )
        raise usage(f"--key: cannot load {args.key}: {why}") from exc


async def _ask(ctx: Context, question: str) -> bool:
    ctx.out.err.write(question)
    ctx.out.err.flush()
    answer = await asyncio.to_thread(sys.stdin.readline)
    return answer.strip().lower() in ("y", "yes")


async def approve(ctx: Context, args: argparse.Namespace) -> int:
    from controller.campaigns.approvals import ApprovalError, sign_manifest
    from protos.envelope import manifest_digest

    if args.keygen:
        return keygen(ctx, args)
    if not args.campaign or not args.batch or not args.key:
        raise usage("fleetctl approve CAMPAIGN BATCH --key KEYFILE (or --keygen OUT)")
    cid, bid = _cid(args.campaign), _cid(args.batch)
    doc = await ctx.client.get_json(f"{API}/campaigns/{cid}/batches/{bid}/manifest")
    raw, m = read_manifest(doc, cid, bid)
    summary = manifest_text(raw, m)
    # What is signed goes to stderr too under --json, so the person sees it whatever stdout is piped into.
    if ctx.out.as_json:
        ctx.out.err.write(summary + "\n")
    else:
        ctx.out.text(summary)
    if doc.get("state") != "AWAITING_APPROVAL":
        ctx.out.note(
            f"note: the batch is {doc.get('state')}, not awaiting approval; the controller may refuse"
        )
    key = load_key(args)
    if not args.yes:
        if not sys.stdin.isatty():
            raise usage("not on a terminal: pass --yes to sign without being asked")
        if not await _ask(ctx, f"sign this manifest with key {key.key_id}? [y/N] "):
            raise FleetctlError("not signed; nothing was sent", Exit.USAGE)
    try:
        signed = sign_manifest(str(doc["manifest_b64"]), key, expect_digest=manifest_digest(raw))
    except ApprovalError as exc:
        raise FleetctlError(str(exc), Exit.UNREACHABLE) from exc
    res = await ctx.client.post_json(f"{API}/campaigns/{cid}/batches/{bid}/approvals", signed.body())
    if ctx.out.as_json:
        ctx.out.document({"campaign_id": cid, "batch_id": bid, "digest": manifest_digest(raw),
                          "key_id": signed.key_id, **res})  # fmt: skip
        return Exit.OK
    ctx.out.text(f"approved with key {signed.key_id}: {res.get('approvals')} of {res.get('required')} "
                 f"approvals; batch {bid} is {res.get('state')}")  # fmt: skip
    return Exit.OK


def _write_new(path: Path, data: bytes, mode: int, force: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError as exc:
        raise usage(f"--keygen: {path} exists (--force overwrites)") from exc
    except OSError as exc:
        raise usage(f"--keygen: cannot write {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)  # O_TRUNC keeps an existing file's mode
        f.write(data)


def keygen(ctx: Context, args: argparse.Namespace) -> int:
    """A new approver key: the private PEM (0600, encrypted when a passphrase is given) and the public keyring
    JSON to register with `camfleet-controller user NAME --approver-key FILE` and to pin on the agents."""
    from protos.keys import Keyring, SigningKey

    out = Path(args.keygen)
    pub = Path(args.public) if args.public else out.with_name(out.name + ".pub.json")
    key = SigningKey.generate()
    for f in (out, pub):
        if f.exists() and not args.force:  # checked for both before writing either
            raise usage(f"--keygen: {f} exists (--force overwrites)")
    passphrase = _passphrase(args, "passphrase for the new key (empty for none): ", confirm=True)
    _write_new(out, key.to_pem(passphrase), 0o600, args.force)
    _write_new(pub, (Keyring.of(key.public_key).to_json() + "\n").encode(), 0o644, args.force)
    if ctx.out.as_json:
        ctx.out.document({"key_id": key.key_id, "private_key": str(out), "public_keyring": str(pub),
                          "encrypted": passphrase is not None})  # fmt: skip
        return Exit.OK
    ctx.out.text(f"approver key {key.key_id}")
    ctx.out.text(f"private key: {out} (mode 600{', encrypted' if passphrase else ', NOT encrypted'})")
    ctx.out.text(f"public keyring: {pub}")
    ctx.out.text("register it: camfleet-controller user --config CONTROLLER.toml NAME --role approver "
                 f"--approver-key {pub}")  # fmt: skip
    return Exit.OK


# ---- parser -------------------------------------------------------------------------------------------
def _create_flags(p: argparse.ArgumentParser) -> None:
    add_filter_flags(p)
    p.add_argument("--tags", action="append", metavar="TAG[,...]", help="only cameras with all these tags")
    p.add_argument("--all", "--all-cameras", dest="all_cameras", action="store_true",
                   help="target the whole fleet (instead of --where)")  # fmt: skip
    p.add_argument("--expect-cameras", type=int, metavar="N",
                   help="the number of cameras you previewed: the campaign is refused if the selection now "
                        "holds more (destructive campaigns count it themselves when not given)")  # fmt: skip
    p.add_argument("--spec", metavar="FILE", help="the campaign as JSON (the API's document; - for stdin); "
                                                  "flags given as well override it")  # fmt: skip
    p.add_argument("--name", help="a name people recognise")
    p.add_argument("--stages", action="append", metavar="STAGE[,...]",
                   help=f"in order, any of {','.join(STAGES)}")  # fmt: skip
    g = p.add_argument_group("stage parameters")
    g.add_argument("--feature", action="append", metavar="NAME", help="disable_cloud: only these features")
    g.add_argument("--mode", choices=["soft", "hard"], help="decommission: factory reset mode (default soft)")
    g.add_argument("--wipe-users", action="store_true", help="decommission: also delete the user accounts")
    add_network_flags(p.add_argument_group("restrict_network stage parameters"))
    g = p.add_argument_group("batches and gates")
    g.add_argument("--canary", type=int, metavar="N", help="size of the first batch (default 1)")
    g.add_argument("--growth", type=float, metavar="F", help="each batch F times the previous (default 2)")
    g.add_argument("--max-batch", type=int, metavar="M", help="largest batch (default 50)")
    g.add_argument("--success-threshold", type=float, metavar="FRAC",
                   help="fraction of a batch that must succeed to advance (default 1.0)")  # fmt: skip
    g.add_argument("--failure-threshold", type=float, metavar="FRAC",
                   help="failed/executed fraction that stops the campaign (default 0.5) ...")  # fmt: skip
    g.add_argument(
        "--min-executed", type=int, metavar="N", help="... once N executions are final (default 1)"
    )
    g.add_argument(
        "--on-failure", choices=["pause", "abort"], help="what a tripped gate does (default pause)"
    )
    g.add_argument("--ttl", "--exec-timeout", dest="ttl", type=float, metavar="SECONDS",
                   help="per-execution timeout (command TTL, default 900); --timeout is the HTTP "
                        "timeout")  # fmt: skip
    g.add_argument("--window", action="append", metavar="DAYS@HH:MM-HH:MM",
                   help="maintenance window in UTC, repeatable: mon-fri@22:00-06:00, 01:00-05:00 (daily), "
                        'or the API\'s JSON {"days":[0,1],"start":"22:00","end":"06:00"}')  # fmt: skip
    r = g.add_mutually_exclusive_group()
    r.add_argument("--retry-failed-only", dest="retry_failed_only", action="store_true", default=None,
                   help="resume retries the failed cameras only (default)")  # fmt: skip
    r.add_argument("--retry-all", dest="retry_failed_only", action="store_false",
                   help="resume retries every camera of the stage")  # fmt: skip
    g.add_argument("--approvals", type=int, metavar="K", help="approvers per destructive batch (≥2)")
    g.add_argument(
        "--approval-ttl", type=float, metavar="SECONDS", help="how long a manifest can be approved"
    )
    g.add_argument(
        "--preview", choices=["canary", "all", "none"], help="dry-run preview scope (default canary)"
    )
    p.add_argument("--print-spec", action="store_true", help="print the API document instead of creating it")


def _watch_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--watch", "-w", action="store_true",
                   help="poll with a progress bar until the campaign settles (done, paused, or waiting for "
                        "approvals)")  # fmt: skip
    p.add_argument("--wait-timeout", type=float, metavar="SECONDS", help="stop watching after this long")
    p.add_argument("--interval", type=float, default=2.0, metavar="SECONDS", help="poll interval (default 2)")


def register(sub: SubParsers, common: Parser) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "campaign", parents=[common], help="staged decommission campaigns (create, plan, run)",
        description="Staged campaigns: a canary batch, then growing batches, each gated by its success and "
                    "failure thresholds; destructive stages need approvals.",
    )  # fmt: skip
    cs = p.add_subparsers(dest="campaign_cmd", metavar="SUBCOMMAND", required=True, parser_class=Parser)

    def add(name: str, help: str, description: str = "") -> argparse.ArgumentParser:
        return cs.add_parser(name, parents=[common], help=help, description=description or help,
                             epilog=EXIT_HELP, formatter_class=fmt)  # fmt: skip

    c = add("create", "plan a campaign: select cameras, stages, batches, gates",
            "Resolve the cameras now (the plan is fixed), cut the batches and print the plan. Example:\n"
            "  fleetctl campaign create --where origin=hikvision,site=north \\\n"
            "    --stages disable_cloud,restrict_network --allow 10.0.0.5 \\\n"
            "    --canary 2 --growth 2 --max-batch 20")  # fmt: skip
    _create_flags(c)
    c.set_defaults(handler=create)

    views = (
        ("plan", "the batch plan: sizes, cameras, approvals", True),
        ("status", "batches with state, progress, gate and approvals", False),
    )
    for name, help, plan_view in views:
        s = add(name, help, f"{help}. Exit 1 if the campaign was aborted, a camera's latest try failed, or "
                            "--watch stopped before the campaign settled.")  # fmt: skip
        s.add_argument("campaign", metavar="CAMPAIGN")
        _watch_flags(s)
        s.set_defaults(handler=status, plan_view=plan_view)

    s = add("preview", "the dry-run preview: which settings would change on which cameras")
    s.add_argument("campaign", metavar="CAMPAIGN")
    s.set_defaults(handler=preview)

    for op, help in (("start", "start a CREATED campaign"), ("pause", "pause a running campaign"),
                     ("resume", "resume (a gate-stopped stage retries its failed cameras)"),
                     ("abort", "abort: cancel what has not started, no further batches")):  # fmt: skip
        s = add(op, help)
        s.add_argument("campaign", metavar="CAMPAIGN")
        if op in ("pause", "abort"):
            s.add_argument("--reason", help="recorded in the audit log")
        s.set_defaults(handler=operate, op=op)
    s = add("rollback", "roll a SUCCEEDED or ABORTED batch back from its snapshots")
    s.add_argument("campaign", metavar="CAMPAIGN")
    s.add_argument("batch", metavar="BATCH")
    s.set_defaults(handler=operate, op="rollback")

    s = add("list", "list campaigns")
    s.add_argument("--limit", type=int, default=100)
    s.add_argument("--offset", type=int, default=0)
    s.set_defaults(handler=list_campaigns)

    a = sub.add_parser(
        "approve", parents=[common], help="sign a destructive batch's manifest with your approver key",
        description="Fetch the batch manifest, show exactly which cameras and which action you are signing "
                    "(and its digest), ask, then sign with your Ed25519 key and upload the signature. Agents "
                    "check these signatures themselves.\n"
                    "  fleetctl approve CAMPAIGN BATCH --key ~/.camfleet/approver.pem\n"
                    "  fleetctl approve --keygen ~/.camfleet/approver.pem   (a new key pair)",
    )  # fmt: skip
    a.add_argument("campaign", nargs="?", metavar="CAMPAIGN")
    a.add_argument("batch", nargs="?", metavar="BATCH")
    a.add_argument("--key", metavar="KEYFILE", help="your Ed25519 private key (PEM, may be encrypted)")
    a.add_argument("--passphrase-env", metavar="VAR", help="read the key's passphrase from this env variable")
    a.add_argument("--yes", "-y", action="store_true", help="do not ask before signing")
    a.add_argument("--keygen", metavar="OUT", help="create a key pair: OUT (private, 0600), OUT.pub.json")
    a.add_argument("--public", metavar="FILE", help="with --keygen: where the public keyring goes")
    a.add_argument("--force", action="store_true", help="with --keygen: overwrite existing files")
    a.set_defaults(handler=approve)
