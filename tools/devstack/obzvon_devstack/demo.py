"""The demo campaign end to end, shared by `make demo` and the end-to-end test.

A tenant and a campaign of N contacts with a say-then-ask script are created over the public gRPC
API, the campaign is started, and the report is read back over gRPC and compared with the phone
simulator's ground truth (what it was actually asked and what it actually said): the totals, and per
contact the call record on call.events (obzvon_phonesim.compare, the comparison the benchmarks and
end-to-end tests share).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from obzvon.script import load_script_yaml
from obzvon.v1 import (
    campaigns_pb2,
    campaigns_pb2_grpc,
    dnc_pb2_grpc,
    reports_pb2,
    reports_pb2_grpc,
    tenants_pb2,
    tenants_pb2_grpc,
)
from obzvon_phonesim import compare

from obzvon_devstack.devstack import DevStack, numbers_awake_now

SCRIPT = Path(__file__).resolve().parents[3] / "deploy/local/demo/clinic-reminder.yaml"
CALLER_ID = "+74950000000"


@dataclass
class GroundTruth:
    attempts: int
    answered: int
    yes: int
    calls: list[dict[str, Any]]


def read_ground_truth(path: Path, numbers: set[str]) -> GroundTruth:
    records = (json.loads(line) for line in (path.read_text().splitlines() if path.exists() else []))
    calls = compare.phone_calls(r for r in records if r.get("to_number", "").lstrip("+") in numbers)
    answered = [c for c in calls if c.get("answered")]
    # A spoken «да» or a press of 1 (the keypad's yes) both count as yes.
    yes = [c for c in answered if c.get("behaviour") in ("yes", "press1") and c.get("replied") is True]
    return GroundTruth(attempts=len(calls), answered=len(answered), yes=len(yes), calls=calls)


class ApiClient:
    """The public gRPC API as a tenant sees it (scheduler and reporting), for the demo and tests."""

    def __init__(self, stack: DevStack) -> None:
        self._stack = stack
        self._sched = grpc.insecure_channel(stack.scheduler_addr)
        self._rep = grpc.insecure_channel(stack.reporting_addr)
        self.tenants = tenants_pb2_grpc.TenantServiceStub(self._sched)
        self.campaigns = campaigns_pb2_grpc.CampaignServiceStub(self._sched)
        self.dnc = dnc_pb2_grpc.DncServiceStub(self._sched)
        self.reports = reports_pb2_grpc.ReportingServiceStub(self._rep)
        self.key: list[tuple[str, str]] = []

    def close(self) -> None:
        self._sched.close()
        self._rep.close()

    def create_tenant(self, tenant_id: str, display_name: str = "Клиника Здоровье") -> None:
        created = self.tenants.CreateTenant(
            tenants_pb2.CreateTenantRequest(
                tenant_id=tenant_id, tenant=tenants_pb2.Tenant(display_name=display_name, caller_ids=[CALLER_ID])
            ),
            metadata=[("x-api-key", self._stack.admin_api_key)],
        )
        self.key = [("x-api-key", created.api_key)]

    def create_campaign(self, campaign_id: str, *, sim_port: int, max_calls: int = 10) -> None:
        script = load_script_yaml(SCRIPT.read_text(encoding="utf-8"))
        self.campaigns.CreateCampaign(
            campaigns_pb2.CreateCampaignRequest(
                campaign_id=campaign_id,
                request_id=f"{campaign_id}-create",
                campaign=campaigns_pb2.Campaign(
                    display_name="Напоминание о приёме",
                    purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
                    script=script,
                    caller_id=CALLER_ID,
                    compliance_profile="default",
                    language="ru",
                    voice="default:ru",
                    trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=sim_port),
                    max_concurrent_calls=max_calls,
                ),
            ),
            metadata=self.key,
        )

    def import_contacts(
        self, campaign_id: str, numbers: list[str], variables: Sequence[dict[str, str]] | None = None
    ) -> campaigns_pb2.ImportContactsResponse:
        """One upload, streamed in chunks; each contact's script variables (the demo's: name and time)."""

        def chunks(size: int = 500) -> Iterator[campaigns_pb2.ImportContactsRequest]:
            for start in range(0, len(numbers), size):
                yield campaigns_pb2.ImportContactsRequest(
                    campaign=f"campaigns/{campaign_id}",
                    contacts=[
                        campaigns_pb2.Contact(
                            contact_id=f"patient-{i + 1}",
                            phone_number=numbers[i],
                            variables=(
                                variables[i] if variables is not None else {"name": f"пациент {i + 1}", "time": "10:30"}
                            ),
                        )
                        for i in range(start, min(start + size, len(numbers)))
                    ],
                )

        response: campaigns_pb2.ImportContactsResponse = self.campaigns.ImportContacts(chunks(), metadata=self.key)
        return response

    def start(self, campaign_id: str) -> None:
        self.campaigns.StartCampaign(
            campaigns_pb2.StartCampaignRequest(name=f"campaigns/{campaign_id}"), metadata=self.key
        )

    def pause(self, campaign_id: str, reason: str) -> None:
        self.campaigns.PauseCampaign(
            campaigns_pb2.PauseCampaignRequest(name=f"campaigns/{campaign_id}", reason=reason), metadata=self.key
        )

    def report(self, campaign_id: str) -> reports_pb2.CampaignReport:
        report: reports_pb2.CampaignReport = self.reports.GetCampaignReport(
            reports_pb2.GetCampaignReportRequest(campaign=f"campaigns/{campaign_id}"), metadata=self.key
        ).report
        return report

    def contacts(self, campaign_id: str) -> list[campaigns_pb2.Contact]:
        return list(
            self.campaigns.ListContacts(
                campaigns_pb2.ListContactsRequest(campaign=f"campaigns/{campaign_id}"), metadata=self.key
            ).contacts
        )

    def wait_finished(self, campaign_id: str, contacts: int, timeout_s: float) -> reports_pb2.CampaignReport:
        """Waits until the campaign completed and the report accounts for every contact."""
        deadline = time.monotonic() + timeout_s
        report = reports_pb2.CampaignReport()
        while time.monotonic() < deadline:
            self._stack.check_alive()
            report = self.report(campaign_id)
            state = self.campaigns.GetCampaign(
                campaigns_pb2.GetCampaignRequest(name=f"campaigns/{campaign_id}"), metadata=self.key
            ).campaign.state
            if (
                state == campaigns_pb2.CAMPAIGN_STATE_COMPLETED
                and report.completed + report.failed + report.blocked >= contacts
            ):
                return report
            time.sleep(1.0)
        raise TimeoutError(f"campaign not finished within {timeout_s} s; last report: {report}")


def run_campaign(
    stack: DevStack,
    *,
    sim_port: int,
    ground_truth: Path,
    contacts: int = 10,
    tenant_id: str = "clinic",
    campaign_id: str = "reminders",
    timeout_s: float = 240.0,
    numbers: list[str] | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Creates, starts and waits for the demo campaign; returns the report and the comparison."""
    api = ApiClient(stack)
    try:
        api.create_tenant(tenant_id)
        log(f"tenant tenants/{tenant_id} created")
        api.create_campaign(campaign_id, sim_port=sim_port, max_calls=contacts)
        numbers = numbers or numbers_awake_now(contacts)
        imported = api.import_contacts(campaign_id, numbers)
        log(f"{imported.imported} contacts imported ({numbers[0]} ...)")
        api.start(campaign_id)
        log("campaign started")
        report = api.wait_finished(campaign_id, contacts, timeout_s)
        statuses = [c.status for c in api.contacts(campaign_id)]
    finally:
        api.close()

    truth = read_ground_truth(ground_truth, {n.lstrip("+") for n in numbers})
    # Per contact: the call record on call.events against what each phone did (a report can total
    # right while two contacts' answers are swapped).
    events = asyncio.run(
        compare.read_call_events(
            kafka_bootstrap(stack), stack.topic_prefix, tenant_id=tenant_id, campaign_id=campaign_id
        )
    )
    per_contact = compare.compare(events, truth.calls, numbers=numbers)
    totals_match = (report.attempts, report.answered, report.yes) == (truth.attempts, truth.answered, truth.yes)
    return {
        "report": {
            "attempts": report.attempts,
            "answered": report.answered,
            "yes": report.yes,
            "no": report.no,
            "other": report.other,
            "completed": report.completed,
            "failed": report.failed,
            "outcomes": dict(report.outcomes),
            "tags": dict(report.tags),
        },
        "ground_truth": {"attempts": truth.attempts, "answered": truth.answered, "yes": truth.yes},
        "contact_statuses": statuses,
        "comparison": per_contact.as_dict(),
        "matches_ground_truth": totals_match and per_contact.matches_ground_truth,
    }


def kafka_bootstrap(stack: DevStack) -> str:
    """The Kafka the stack's services use (OBZVON_KAFKA_BOOTSTRAP, as their settings read it)."""
    return stack.env("scheduler").get("OBZVON_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
