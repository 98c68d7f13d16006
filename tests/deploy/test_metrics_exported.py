"""Every metric the Grafana dashboard and the KEDA autoscalers query is exported by a running service.

The five services run as real processes (DevStack), each with a metrics port of its own; their
/metrics endpoints are scraped over HTTP. Each metric name in the dashboard's PromQL
(deploy/grafana/obzvon.json) and in the ScaledObjects' prometheus triggers (overlays/keda) must be
among the scraped ones, so a metric renamed in code or a typo in a query fails here instead of
showing as an empty panel or an autoscaler that never scales. The kafka triggers must name real
topics and the consumer groups the running services join.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka.admin import AIOKafkaAdminClient
from obzvon.topics import ALL_TOPICS
from obzvon_devstack.devstack import SERVICES, DevStack
from prometheus_client.metrics_core import Metric

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "obzvon.json"
SCALED_OBJECTS = ROOT / "deploy" / "k8s" / "overlays" / "keda" / "scaledobjects.yaml"
KAFKA = "127.0.0.1:9092"

# Series a family of each type puts on the endpoint (a labelled family with no sample yet still
# declares them: its HELP and TYPE lines are there).
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
    "info": ("_info",),
    "unknown": ("",),
}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}


def exported_series(families: list[Metric]) -> set[str]:
    names: set[str] = set()
    for family in families:
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (a regex reading, enough for our own queries)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    found = re.findall(r"\b([A-Za-z_][A-Za-z0-9_:]*)\b(?!\s*\()", expr)  # not followed by "(": no function
    return {name for name in found if name not in PROMQL_WORDS}


def dashboard_queries() -> list[str]:
    exprs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                exprs.append(node["expr"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(DASHBOARD.read_text()))
    return exprs


def scaled_objects() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(SCALED_OBJECTS.read_text()) if d and d["kind"] == "ScaledObject"]


def triggers(kind: str) -> list[tuple[str, dict[str, str]]]:
    return [
        (o["metadata"]["name"], t["metadata"])
        for o in scaled_objects()
        for t in o["spec"]["triggers"]
        if t["type"] == kind
    ]


@dataclass
class Running:
    stack: DevStack
    series: dict[str, set[str]]  # process name -> series names its endpoint declares


async def consumer_groups(prefix: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        groups = await admin.list_consumer_groups()
    finally:
        await admin.close()
    return {str(g[0]).removeprefix(prefix) for g in groups if str(g[0]).startswith(prefix)}


@pytest.fixture(scope="module")
def running(test_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    stack = DevStack(
        workdir=tmp_path_factory.mktemp("metrics") / "stack",
        topic_prefix=f"t-{uuid.uuid4().hex[:10]}.",
        admin_api_key=f"admin-{uuid.uuid4().hex}",
        # the smallest model: this test needs asr's endpoint and consumer group, not its accuracy
        extra_env={"OBZVON_REDIS_URL": test_redis, "OBZVON_ASR_MODELS": "en=tiny.en"},
    )
    try:
        stack.start()
        yield Running(stack, {name: exported_series(stack.scrape(name, timeout_s=120)) for name in SERVICES})
    finally:
        stack.stop()


def test_the_query_parser_reads_metric_names() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, language) (rate(a_seconds_bucket{result="x"}[$__rate_interval]))) / b'
    assert metric_names(expr) == {"a_seconds_bucket", "b"}
    assert metric_names("60 * sum(rate(c_total[5m])) and on (pod) d") == {"c_total", "d"}


def test_every_metric_the_dashboard_and_keda_query_is_exported(running: Running) -> None:
    queries = {f"dashboard: {e}": e for e in dashboard_queries()}
    prometheus = triggers("prometheus")
    assert "dialer" in {name for name, _ in prometheus}, "the dialer scales on active calls (a prometheus trigger)"
    queries |= {f"ScaledObject {name}: {m['query']}": m["query"] for name, m in prometheus}
    exported = set().union(*running.series.values())
    missing = {where: sorted(metric_names(q) - exported) for where, q in queries.items() if metric_names(q) - exported}
    assert not missing, f"queried but exported by no service: {json.dumps(missing, indent=1)}"
    queried = set().union(*(metric_names(q) for q in queries.values()))
    assert len(queried) >= 15, sorted(queried)  # the parser found the dashboard's names, not nothing
    # Each service's own metrics come from that service.
    for service in SERVICES:
        own = {n for n in queried if n.startswith(f"obzvon_{service}_")}
        assert own <= running.series[service], f"{service} does not export {sorted(own - running.series[service])}"


def test_keda_kafka_triggers_name_real_topics_and_the_services_groups(running: Running) -> None:
    kafka = triggers("kafka")
    assert {name for name, _ in kafka} == {"dialer", "asr", "tts"}
    topics = {t.name for t in ALL_TOPICS}
    for name, meta in kafka:
        assert meta["topic"] in topics, f"ScaledObject {name} watches {meta['topic']}, not a topic of obzvon.topics"
    # The groups KEDA reads lag from are the ones the services join (asr joins once its model is loaded).
    wanted = {meta["consumerGroup"] for _, meta in kafka}
    deadline = time.monotonic() + 120
    groups = asyncio.run(consumer_groups(running.stack.topic_prefix))
    while not wanted <= groups and time.monotonic() < deadline:
        running.stack.check_alive()
        time.sleep(0.5)
        groups = asyncio.run(consumer_groups(running.stack.topic_prefix))
    assert wanted <= groups, f"KEDA watches groups {sorted(wanted)}; the services joined {sorted(groups)}"


def test_the_dialer_scales_out_before_its_pods_are_full() -> None:
    """The active-calls target per pod is below the calls a dialer takes (OBZVON_MAX_CALLS in base)."""
    (meta,) = [m for name, m in triggers("prometheus") if name == "dialer"]
    dialer = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "base" / "dialer.yaml").read_text())
    (statefulset,) = [d for d in dialer if d and d["kind"] == "StatefulSet"]
    env = {e["name"]: e.get("value") for e in statefulset["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert 0 < float(meta["threshold"]) < int(env["OBZVON_MAX_CALLS"])
    assert "obzvon_dialer_active_calls" in metric_names(meta["query"])
