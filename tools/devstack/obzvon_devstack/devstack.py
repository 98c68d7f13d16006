"""Runs Obzvon's services as local processes against the local Kafka and Redis (deploy/local/stack.sh).

Used by the demo (deploy/local/demo.py) and the end-to-end tests: every service is the real
`obzvon-<service> serve` entrypoint in its own process, so a test can kill one like a crash would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

SERVICES = ("scheduler", "dialer", "tts", "asr", "reporting")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@dataclass
class DevStack:
    workdir: Path
    topic_prefix: str
    admin_api_key: str = "demo-admin-key"
    scheduler_port: int = field(default_factory=free_port)
    reporting_port: int = field(default_factory=free_port)
    reporting_web_port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Each process's Prometheus endpoint (OBZVON_METRICS_PORT), by process name ("dialer", "dialer-2");
    # kept across a restart of the same name, so a test scrapes the same address afterwards.
    metrics_ports: dict[str, int] = field(default_factory=dict)

    @property
    def scheduler_addr(self) -> str:
        return f"127.0.0.1:{self.scheduler_port}"

    @property
    def reporting_addr(self) -> str:
        return f"127.0.0.1:{self.reporting_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}/"

    def metrics_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.metrics_ports[name]}/metrics"

    def scrape(self, name: str, timeout_s: float = 60.0) -> list[Metric]:
        """The metric families process `name` serves now, parsed; waits for its endpoint to come up."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(self.metrics_url(name), timeout=5) as response:
                    return list(text_string_to_metric_families(response.read().decode()))
            except OSError as e:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no metrics at {self.metrics_url(name)} within {timeout_s} s") from e
                time.sleep(0.3)

    def env(self, service: str, metrics_port: int = 0) -> dict[str, str]:
        env = {
            **os.environ,
            "OBZVON_TOPIC_PREFIX": self.topic_prefix,
            "OBZVON_ADMIN_API_KEY": self.admin_api_key,
            "OBZVON_GRPC_PORT": str(self.scheduler_port if service == "scheduler" else self.reporting_port),
            "OBZVON_WEB_PORT": str(self.reporting_web_port),
            "OBZVON_DASHBOARD_PORT": str(self.dashboard_port),
            "OBZVON_DATA_DIR": str(self.workdir / "reporting-data"),
            "PYTHONUNBUFFERED": "1",
            "OBZVON_METRICS_PORT": str(metrics_port),
        }
        env.update(self.extra_env)
        return env

    def start(self, *services: str) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for service in services or SERVICES:
            self.start_one(service)

    def start_one(self, service: str, instance: str = "") -> None:
        name = f"{service}{instance}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [bin_path(f"obzvon-{service}"), "serve"],
            env=self.env(service, self.metrics_ports.setdefault(name, free_port())),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,
        )

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        for addr in (self.scheduler_addr, self.reporting_addr):
            wait_healthy(addr, timeout_s)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.processes.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.processes.clear()


def wait_healthy(addr: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"no healthy gRPC server at {addr} within {timeout_s} s")
            time.sleep(0.3)


def start_phonesim(
    workdir: Path, *, sim_port: int, ground_truth: Path, mix: str, seed: int = 7, rules: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    log = (workdir / "phonesim.log").open("ab")
    argv = [
        bin_path("obzvon-phonesim"),
        "serve",
        "--sip-port",
        str(sim_port),
        "--ground-truth",
        str(ground_truth),
        "--seed",
        str(seed),
        "--mix",
        mix,
        # the robot speaks its disclosure, greeting and question before the callee answers
        "--listen-timeout-s",
        "60",
        # A callee who waits 2 s of robot silence before answering: when tts is slow to render a
        # personal prompt, the robot pauses between nodes, and with 700 ms the phone answered
        # into that pause, before the question, and was then silent (a flaky demo test).
        "--end-silence-ms",
        "2000",
    ]
    for rule in rules:
        argv += ["--rule", rule]
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


# Fixed-line numbers of places with a single time zone, around the globe: a demo or test picks the
# place where it is now mid-day, so the calling-window rules admit the calls at any hour it runs.
_AWAKE_CANDIDATES = (
    ("+7495", "Europe/Moscow"),
    ("+4420", "Europe/London"),
    ("+1212", "America/New_York"),
    ("+1213", "America/Los_Angeles"),
    ("+813", "Asia/Tokyo"),
    ("+612", "Australia/Sydney"),
    ("+9714", "Asia/Dubai"),
    ("+5511", "America/Sao_Paulo"),
    ("+1808", "Pacific/Honolulu"),
    ("+649", "Pacific/Auckland"),
    ("+9111", "Asia/Kolkata"),
    ("+8621", "Asia/Shanghai"),
)


def numbers_awake_now(
    count: int, now: float | None = None, start: int | None = None, hours: tuple[int, int] = (11, 17)
) -> list[str]:
    """`count` valid numbers in one place where local time is now within `hours` (11:00-17:00).

    Numbers start at a random offset unless `start` is given: per-number limits (the daily cap on
    answered robocalls) would otherwise block a second run on the same day.
    """
    import datetime as dt
    import random
    from zoneinfo import ZoneInfo

    import phonenumbers
    from phonenumbers import timezone as pn_timezone

    moment = dt.datetime.fromtimestamp(now if now is not None else time.time(), dt.UTC)
    for prefix, zone in _AWAKE_CANDIDATES:
        local = moment.astimezone(ZoneInfo(zone))
        if not hours[0] <= local.hour < hours[1]:
            continue
        out: list[str] = []
        first = random.randrange(0, 4_000) if start is None else start
        for i in range(first, first + 2_000):
            for digits in (7, 8):
                number = f"{prefix}{5550000 + i}".ljust(len(prefix) + digits, "0")
                try:
                    parsed = phonenumbers.parse(number)
                except phonenumbers.NumberParseException:
                    continue
                if not phonenumbers.is_valid_number(parsed) or pn_timezone.time_zones_for_number(parsed) != (zone,):
                    continue
                out.append(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
                if len(out) == count:
                    return out
                break
    raise RuntimeError(f"no candidate place is between {hours[0]}:00 and {hours[1]}:00 now; extend _AWAKE_CANDIDATES")


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL to the whole process group if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
