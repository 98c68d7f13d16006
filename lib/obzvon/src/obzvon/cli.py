"""`obzvon`: the command line for tenants and integrators, a thin client of the public gRPC API.

Keys come from the environment: OBZVON_API_KEY (a tenant's) or OBZVON_ADMIN_API_KEY (tenant admin).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
from google.protobuf.json_format import MessageToDict

from obzvon.errors import InvalidArgument, field_violations
from obzvon.script import load_script_yaml
from obzvon.v1 import (
    campaigns_pb2,
    campaigns_pb2_grpc,
    events_pb2,
    reports_pb2,
    reports_pb2_grpc,
    tenants_pb2,
    tenants_pb2_grpc,
)

CONTACT_COLUMNS = {"phone", "contact_id", "region", "debtor_key", "consent_time", "consent_channel", "consent_source"}
PURPOSES = {"informational": campaigns_pb2.PURPOSE_INFORMATIONAL, "advertising": campaigns_pb2.PURPOSE_ADVERTISING}


class CliError(Exception):
    pass


def _metadata(admin: bool = False) -> list[tuple[str, str]]:
    var = "OBZVON_ADMIN_API_KEY" if admin else "OBZVON_API_KEY"
    key = os.environ.get(var, "")
    if not key:
        raise CliError(f"set {var}")
    return [("x-api-key", key)]


def _channel(var: str, default: str) -> grpc.Channel:
    return grpc.insecure_channel(os.environ.get(var, default))


def scheduler() -> grpc.Channel:
    return _channel("OBZVON_SCHEDULER_ADDR", "127.0.0.1:50051")


def reporting() -> grpc.Channel:
    return _channel("OBZVON_REPORTING_ADDR", "127.0.0.1:50052")


def read_contacts(path: Path) -> Iterator[campaigns_pb2.Contact]:
    """Contacts from a CSV with a header: phone, optional contact_id/region/debtor_key/consent_*,
    every other column a script variable."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "phone" not in reader.fieldnames:
            raise CliError(f"{path}: the header must have a 'phone' column (found: {reader.fieldnames})")
        for row in reader:
            contact = campaigns_pb2.Contact(
                phone_number=row.get("phone") or "",
                contact_id=row.get("contact_id") or "",
                region=row.get("region") or "",
                debtor_key=row.get("debtor_key") or "",
                variables={k: v or "" for k, v in row.items() if k and k not in CONTACT_COLUMNS},
            )
            if row.get("consent_time"):
                contact.consent.time.FromJsonString(row["consent_time"])
                contact.consent.channel = row.get("consent_channel") or ""
                contact.consent.source = row.get("consent_source") or ""
            yield contact


def _explain(error: grpc.RpcError, rows_are_lines: bool = False) -> str:
    violations = field_violations(error)
    if not violations:
        return f"{error.code().name}: {error.details()}"  # type: ignore[attr-defined]
    lines = [f"{error.code().name}:"]  # type: ignore[attr-defined]
    for v in violations:
        where = v.field
        m = re.match(r"contacts\[(\d+)\]\.(.*)", v.field)
        if m and rows_are_lines:
            where = f"row {m.group(1)} (line {int(m.group(1)) + 1} of the file), field {m.group(2)}"
        lines.append(f"  {where}: {v.description}")
    return "\n".join(lines)


def cmd_tenant_create(args: argparse.Namespace) -> object:
    stub = tenants_pb2_grpc.TenantServiceStub(scheduler())
    response = stub.CreateTenant(
        tenants_pb2.CreateTenantRequest(
            tenant_id=args.id,
            tenant=tenants_pb2.Tenant(
                display_name=args.name, caller_ids=args.caller_id, max_concurrent_calls=args.max_calls
            ),
        ),
        metadata=_metadata(admin=True),
    )
    return MessageToDict(response)


def _key_parent(args: argparse.Namespace) -> str:
    return f"tenants/{args.tenant}" if args.tenant else ""


def cmd_key_create(args: argparse.Namespace) -> object:
    stub = tenants_pb2_grpc.TenantServiceStub(scheduler())
    request = tenants_pb2.CreateApiKeyRequest(parent=_key_parent(args))
    return MessageToDict(stub.CreateApiKey(request, metadata=_metadata(admin=args.admin)))


def cmd_key_list(args: argparse.Namespace) -> object:
    stub = tenants_pb2_grpc.TenantServiceStub(scheduler())
    request = tenants_pb2.ListApiKeysRequest(parent=_key_parent(args))
    return MessageToDict(stub.ListApiKeys(request, metadata=_metadata(admin=args.admin)))


def cmd_key_revoke(args: argparse.Namespace) -> object:
    stub = tenants_pb2_grpc.TenantServiceStub(scheduler())
    request = tenants_pb2.RevokeApiKeyRequest(name=args.name)
    return MessageToDict(stub.RevokeApiKey(request, metadata=_metadata(admin=args.admin)))


TRUNK_NUMBER_FORMATS = {
    "e164": campaigns_pb2.TRUNK_NUMBER_FORMAT_E164,
    "e164-no-plus": campaigns_pb2.TRUNK_NUMBER_FORMAT_E164_NO_PLUS,
    "national": campaigns_pb2.TRUNK_NUMBER_FORMAT_NATIONAL,
}


def _trunk(args: argparse.Namespace) -> campaigns_pb2.Trunk:
    """--trunk HOST:PORT ([v6]:PORT for IPv6); the scheduler checks the host strictly. The password
    comes from OBZVON_TRUNK_PASSWORD, so it is not on a command line others can read."""
    m = re.fullmatch(r"\[([^\]]+)\]:(\d{1,5})|([^:\[\]]+):(\d{1,5})", args.trunk)
    if m is None:
        raise CliError(f'--trunk: HOST:PORT, e.g. 127.0.0.1:5070 (got "{args.trunk}")')
    return campaigns_pb2.Trunk(
        host=m[1] or m[3],
        port=int(m[2] or m[4]),
        transport=campaigns_pb2.TRUNK_TRANSPORT_UDP,
        number_format=TRUNK_NUMBER_FORMATS[args.trunk_number_format],
        username=args.trunk_username,
        password=os.environ.get("OBZVON_TRUNK_PASSWORD", "") if args.trunk_username else "",
    )


def cmd_campaign_create(args: argparse.Namespace) -> object:
    try:
        script = load_script_yaml(Path(args.script).read_text(encoding="utf-8"))
    except InvalidArgument as e:
        raise CliError(f"{args.script}: " + "; ".join(str(v) for v in e.violations)) from None
    campaign = campaigns_pb2.Campaign(
        display_name=args.name or args.id,
        purpose=PURPOSES[args.purpose],
        script=script,
        caller_id=args.caller_id,
        compliance_profile=args.profile,
        language=args.language,
        voice=args.voice or "",
        trunk=_trunk(args),
        callback_number=args.callback_number,
        max_concurrent_calls=args.max_calls,
        max_attempts=args.max_attempts,
    )
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler())
    response = stub.CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(campaign_id=args.id, campaign=campaign, request_id=args.request_id or ""),
        metadata=_metadata(),
    )
    return MessageToDict(response.campaign)


def cmd_contacts_import(args: argparse.Namespace) -> object:
    contacts = list(read_contacts(Path(args.file)))

    def chunks() -> Iterator[campaigns_pb2.ImportContactsRequest]:
        for i in range(0, max(len(contacts), 1), 500):
            yield campaigns_pb2.ImportContactsRequest(
                campaign=f"campaigns/{args.campaign}", contacts=contacts[i : i + 500]
            )

    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler())
    try:
        response = stub.ImportContacts(chunks(), metadata=_metadata())
    except grpc.RpcError as e:
        raise CliError(f"{args.file}: " + _explain(e, rows_are_lines=True)) from None
    return MessageToDict(response, always_print_fields_with_no_presence=True)


def cmd_campaign_start(args: argparse.Namespace) -> object:
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler())
    return MessageToDict(
        stub.StartCampaign(
            campaigns_pb2.StartCampaignRequest(name=f"campaigns/{args.id}"), metadata=_metadata()
        ).campaign
    )


def cmd_campaign_get(args: argparse.Namespace) -> object:
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler())
    return MessageToDict(
        stub.GetCampaign(campaigns_pb2.GetCampaignRequest(name=f"campaigns/{args.id}"), metadata=_metadata()).campaign
    )


def cmd_report(args: argparse.Namespace) -> object:
    stub = reports_pb2_grpc.ReportingServiceStub(reporting())
    campaign = f"campaigns/{args.id}"
    if args.watch is None:
        report = stub.GetCampaignReport(
            reports_pb2.GetCampaignReportRequest(campaign=campaign), metadata=_metadata()
        ).report
        return MessageToDict(report, always_print_fields_with_no_presence=True)
    # The server pushes each change (within 2 s); a terminal is redrawn, a pipe gets one block per change.
    redraw = sys.stdout.isatty()
    for update in stub.WatchCampaignReport(
        reports_pb2.WatchCampaignReportRequest(campaign=campaign), metadata=_metadata()
    ):
        print(("\x1b[H\x1b[2J" if redraw else "") + render_report(update.report), flush=True)
    return None


def render_report(report: reports_pb2.CampaignReport, width: int = 40) -> str:
    """A campaign's progress, totals and funnel per script node, for people."""
    done = max(report.contacts - report.contacts_waiting, 0)
    share = done / report.contacts if report.contacts else 0.0
    bar = "#" * round(share * width) + "." * (width - round(share * width))
    lines = [
        f"{report.campaign}  [{bar}] {done}/{report.contacts} contacts ({share:.0%})",
        f"attempts {report.attempts}  answered {report.answered}  completed {report.completed}  "
        f"failed {report.failed}  blocked {report.blocked}  opted out {report.opted_out}  "
        f"program errors {report.program_errors}",
        f"ring p50 {report.ring.p50_ms / 1000:.1f}s p95 {report.ring.p95_ms / 1000:.1f}s   "
        f"talk p50 {report.talk.p50_ms / 1000:.1f}s p95 {report.talk.p95_ms / 1000:.1f}s   "
        f"asr confidence {report.asr_confidence.mean:.2f} (n={report.asr_confidence.count})",
    ]
    if report.outcome_counts:
        lines.append(
            "outcomes: "
            + ", ".join(
                f"{k.removeprefix('CALL_OUTCOME_').lower()} {v}" for k, v in sorted(report.outcome_counts.items())
            )
        )
    if report.tags:
        lines.append("tags: " + ", ".join(f"{k} {v}" for k, v in sorted(report.tags.items())))
    if report.funnel:
        lines.append(f"{'node':<20} {'entered':>8} {'no input':>9} {'no match':>9} {'hung up':>8}  answers")
        for n in report.funnel:
            answers = ", ".join(f"{k} {v}" for k, v in sorted(n.answers.items()))
            lines.append(
                f"{n.node or '(opening)':<20} {n.entered:>8} {n.no_input:>9} {n.no_match:>9} {n.hung_up:>8}  {answers}"
            )
    return "\n".join(lines)


def _call_filter(args: argparse.Namespace) -> reports_pb2.CallRecordFilter:
    f = reports_pb2.CallRecordFilter(node=args.node, tag=args.tag)
    if args.outcome:
        name = args.outcome.upper()
        name = name if name.startswith("CALL_OUTCOME_") else f"CALL_OUTCOME_{name}"
        if name not in events_pb2.CallOutcome.keys():
            raise CliError(f"unknown outcome {args.outcome!r} (e.g. completed, busy, callee_hung_up)")
        f.outcome = events_pb2.CallOutcome.Value(name)
    for field, value in (("start_time", args.since), ("end_time", args.until)):
        if value:
            try:
                getattr(f, field).FromJsonString(value)
            except ValueError:
                raise CliError(f"{value!r}: expected an RFC 3339 time, e.g. 2026-12-04T09:00:00Z") from None
    return f


def cmd_calls_list(args: argparse.Namespace) -> object:
    stub = reports_pb2_grpc.ReportingServiceStub(reporting())
    response = stub.ListCallRecords(
        reports_pb2.ListCallRecordsRequest(
            campaign=f"campaigns/{args.id}",
            filter=_call_filter(args),
            page_size=args.page_size,
            page_token=args.page_token,
        ),
        metadata=_metadata(),
    )
    return MessageToDict(response)


def cmd_calls_export(args: argparse.Namespace) -> object:
    stub = reports_pb2_grpc.ReportingServiceStub(reporting())
    for chunk in stub.ExportCallRecords(
        reports_pb2.ExportCallRecordsRequest(campaign=f"campaigns/{args.id}", filter=_call_filter(args)),
        metadata=_metadata(),
    ):
        sys.stdout.write(chunk.csv)
    sys.stdout.flush()
    return None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="obzvon", description="Obzvon command line (a client of the gRPC API)")
    sub = p.add_subparsers(dest="group", required=True)

    tenant = sub.add_parser("tenant").add_subparsers(dest="action", required=True)
    t = tenant.add_parser("create", help="create a tenant (admin key); prints its API key once")
    t.add_argument("--id", required=True)
    t.add_argument("--name", required=True, help="the name callees hear")
    t.add_argument("--caller-id", action="append", required=True, help="E.164, repeatable")
    t.add_argument("--max-calls", type=int, default=0)
    t.set_defaults(func=cmd_tenant_create)

    # Rotation: `key create`, move the clients to the new key, `key revoke` the old one.
    key = sub.add_parser("key", help="a tenant's API keys (its own key, or --admin)").add_subparsers(
        dest="action", required=True
    )
    for name, func, text in (
        ("create", cmd_key_create, "issue another key (at most two live); prints its secret once"),
        ("list", cmd_key_list, "the tenant's live keys (ids and create times, never secrets)"),
    ):
        k = key.add_parser(name, help=text)
        k.add_argument("--tenant", default="", help="tenant id (required with --admin)")
        k.add_argument("--admin", action="store_true", help="use OBZVON_ADMIN_API_KEY")
        k.set_defaults(func=func)
    k = key.add_parser("revoke", help="revoke a key at once: tenants/{tenant_id}/apiKeys/{key_id}")
    k.add_argument("name")
    k.add_argument("--admin", action="store_true", help="use OBZVON_ADMIN_API_KEY")
    k.set_defaults(func=cmd_key_revoke)

    campaign = sub.add_parser("campaign").add_subparsers(dest="action", required=True)
    c = campaign.add_parser("create")
    c.add_argument("--id", required=True)
    c.add_argument("--name", default="")
    c.add_argument("--script", required=True, help="YAML script file")
    c.add_argument("--caller-id", required=True)
    c.add_argument("--purpose", choices=sorted(PURPOSES), default="informational")
    c.add_argument("--profile", default="default", help="compliance profile: default, us-tcpa, ru-230fz")
    c.add_argument("--language", default="ru")
    c.add_argument("--voice", default="")
    c.add_argument("--trunk", required=True, help="the SIP trunk as HOST:PORT (UDP), e.g. 127.0.0.1:5070")
    c.add_argument(
        "--trunk-number-format",
        choices=sorted(TRUNK_NUMBER_FORMATS),
        default="e164-no-plus",
        help="how the contact's number is written in the Request-URI",
    )
    c.add_argument("--trunk-username", default="", help="digest user; the password is read from OBZVON_TRUNK_PASSWORD")
    c.add_argument("--callback-number", default="", help="E.164 number spoken in the disclosure (required by us-tcpa)")
    c.add_argument("--max-calls", type=int, default=0)
    c.add_argument("--max-attempts", type=int, default=1)
    c.add_argument("--request-id", default="")
    c.set_defaults(func=cmd_campaign_create)
    for name, func in (("start", cmd_campaign_start), ("get", cmd_campaign_get)):
        s = campaign.add_parser(name)
        s.add_argument("id")
        s.set_defaults(func=func)

    contacts = sub.add_parser("contacts").add_subparsers(dest="action", required=True)
    i = contacts.add_parser("import", help="import a CSV (header: phone, [contact_id, region, ...], variables)")
    i.add_argument("--campaign", required=True)
    i.add_argument("file")
    i.set_defaults(func=cmd_contacts_import)

    r = sub.add_parser("report", help="a campaign's report")
    r.add_argument("id")
    # The value (seconds) is accepted for older scripts; the server pushes every change.
    r.add_argument("--watch", nargs="?", type=float, const=0.0, default=None, help="show live progress and the funnel")
    r.set_defaults(func=cmd_report)

    calls = sub.add_parser("calls", help="a campaign's call records").add_subparsers(dest="action", required=True)
    for name, func, text in (
        ("list", cmd_calls_list, "one page of call records as JSON"),
        ("export", cmd_calls_export, "every call record as CSV on stdout (one column per script result field)"),
    ):
        cl = calls.add_parser(name, help=text)
        cl.add_argument("id")
        cl.add_argument("--outcome", default="", help="e.g. completed, busy, callee_hung_up")
        cl.add_argument("--node", default="", help="calls whose path went through this node")
        cl.add_argument("--tag", default="")
        cl.add_argument("--since", default="", help="RFC 3339 time, calls started at or after it")
        cl.add_argument("--until", default="", help="RFC 3339 time, calls started before it")
        if name == "list":
            cl.add_argument("--page-size", type=int, default=50)
            cl.add_argument("--page-token", default="")
        cl.set_defaults(func=func)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except CliError as e:
        print(f"obzvon: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except grpc.RpcError as e:
        print(f"obzvon: {_explain(e)}", file=sys.stderr)
        raise SystemExit(1) from None
    if result is not None:  # commands that stream (report --watch, calls export) wrote their output
        print(json.dumps(result, ensure_ascii=False, indent=2))
