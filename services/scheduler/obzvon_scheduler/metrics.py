"""The scheduler's own Prometheus metrics (served by obzvon.telemetry.setup_metrics; list: docs/metrics.md).

Compliance blocks by rule and admissions are counted where the rules decide, in obzvon.compliance.decision
(obzvon_compliance_*), and served by the scheduler (screen, admit) and the dialer (recheck).
"""

from __future__ import annotations

from prometheus_client import Counter

# campaigns.CampaignControl.pause_for_spam: each campaign the spam-risk monitor pauses (its own calls,
# or all its tenant's). No tenant label: tenants are unbounded in a SaaS; the audit and the API say whose.
SPAM_PAUSES = Counter("obzvon_scheduler_spam_pauses", "campaigns paused by the spam-risk monitor")
