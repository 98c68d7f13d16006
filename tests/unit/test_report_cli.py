"""`obzvon report --watch` shows progress and the funnel per node."""

from __future__ import annotations

from obzvon.cli import build_parser, render_report
from obzvon.v1 import reports_pb2


def test_watch_view_shows_progress_and_the_funnel() -> None:
    report = reports_pb2.CampaignReport(
        campaign="campaigns/rem",
        contacts=10,
        contacts_waiting=4,
        attempts=6,
        answered=5,
        funnel=[
            reports_pb2.NodeFunnel(node="", hung_up=1),
            reports_pb2.NodeFunnel(node="confirm", entered=4, answers={"yes": 2, "no": 1}, no_input=1, hung_up=1),
        ],
    )
    text = render_report(report, width=10)
    assert "[######....] 6/10 contacts (60%)" in text
    lines = text.splitlines()
    confirm = next(line for line in lines if line.startswith("confirm"))
    assert confirm.split()[:5] == ["confirm", "4", "1", "0", "1"] and "no 1, yes 2" in confirm
    assert any(line.startswith("(opening)") for line in lines)


def test_watch_takes_an_optional_interval() -> None:
    parser = build_parser()
    assert parser.parse_args(["report", "c"]).watch is None
    assert parser.parse_args(["report", "c", "--watch"]).watch == 0.0
    assert parser.parse_args(["report", "c", "--watch", "2"]).watch == 2.0
    assert parser.parse_args(["calls", "export", "c", "--tag", "x"]).tag == "x"
