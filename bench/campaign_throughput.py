"""Mass calling, measured: a steady state of the demo's clinic campaign on one machine.

Kafka, Redis (`make stack`), the five services and the phone simulator all run here. Contacts are
imported for the whole run at the target rate, the campaign runs BENCH_WARMUP_S (not measured) and
then BENCH_DURATION_S (the steady window, measured); at the window's end admission stops (the
campaign is paused), the calls in progress finish, and every call placed is compared with what the
phones did, contact by contact (obzvon_phonesim.compare). Rates, latencies and costs are of the
window only. Prints one JSON line and appends it to bench/results/campaign_throughput.jsonl; what
each field means: docs/performance.md.

BENCH_DURATION_S (300), BENCH_WARMUP_S (30), BENCH_MAX_CALLS (60, the campaign's concurrent calls),
BENCH_TARGET_PER_HOUR (20000, contacts are imported for this rate), BENCH_MIX (the population),
BENCH_SEED (7), BENCH_REDIS_URL (redis://127.0.0.1:6379/2).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from obzvon import keys
from obzvon.v1 import events_pb2
from obzvon_devstack.demo import ApiClient, kafka_bootstrap
from obzvon_devstack.devstack import DevStack, free_port, numbers_awake_now, start_phonesim, stop_process
from obzvon_phonesim import compare

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "campaign_throughput.jsonl"
DEFAULT_MIX = (
    "yes=0.35,no=0.15,optout=0.05,press1=0.1,press2=0.05,silence=0.05,hangup_early=0.05,"
    "busy=0.1,no_answer=0.05,decline=0.05"
)
# Patients of the clinic: first name and patronymic, and appointment times, so nearly every contact's
# greeting is its own text to render (as in a real clinic), not one cached prompt.
FIRST_NAMES = (
    "Анна Мария Елена Ольга Татьяна Наталья Ирина Светлана Екатерина Юлия "
    "Иван Сергей Андрей Алексей Дмитрий Михаил Николай Павел Виктор Олег"
).split()
PATRONYMICS = (
    "Ивановна Петровна Сергеевна Андреевна Николаевна Викторовна Павловна Олеговна "
    "Иванович Петрович Сергеевич Андреевич Николаевич Викторович Павлович Олегович"
).split()
CLOCK_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class BenchSettings:
    duration_s: float
    warmup_s: float
    max_calls: int
    target_per_hour: int
    mix: str
    seed: int
    redis_url: str

    @classmethod
    def from_env(cls) -> BenchSettings:
        env = os.environ.get
        return cls(
            duration_s=float(env("BENCH_DURATION_S", "300")),
            warmup_s=float(env("BENCH_WARMUP_S", "30")),
            max_calls=int(env("BENCH_MAX_CALLS", "60")),
            target_per_hour=int(env("BENCH_TARGET_PER_HOUR", "20000")),
            mix=env("BENCH_MIX", DEFAULT_MIX),
            seed=int(env("BENCH_SEED", "7")),
            redis_url=env("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2"),
        )

    @property
    def contacts(self) -> int:
        """Enough for warm-up and window at the target rate, with a tenth more."""
        return math.ceil(self.target_per_hour / 3600 * (self.warmup_s + self.duration_s) * 1.1)


# --- processes: CPU and memory from /proc ------------------------------------------------------


def _stat(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()  # fields from the state on (the name may hold spaces)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                tree.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return tree


def _tree(pid: int, children: dict[int, list[int]]) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid: int, children: dict[int, list[int]]) -> float:
    """CPU (user + system) of a process, its reaped children and its live descendants (tts engines)."""
    total = 0.0
    for i, p in enumerate(_tree(pid, children)):
        try:
            f = _stat(p)
        except OSError:
            continue
        # utime, stime (fields 14, 15), and for the root cutime, cstime (16, 17): dead children's share.
        ticks = int(f[11]) + int(f[12]) + (int(f[13]) + int(f[14]) if i == 0 else 0)
        total += ticks * CLOCK_TICK_S
    return total


def rss_mb(pid: int, field_name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def listener_pid(port: int) -> int | None:
    """The process listening on a TCP port (Kafka 9092, Redis 6379), found through its socket's inode."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(cols[9])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(entry.name)
        except OSError:
            continue
    return None


@dataclass
class Watched:
    """The processes measured, by name: the services, the simulator, Kafka and Redis."""

    pids: dict[str, int]
    shared: set[str]  # Kafka and Redis: other work on this machine uses them too
    cpu_at_start: dict[str, float] = field(default_factory=dict)
    cpu_at_end: dict[str, float] = field(default_factory=dict)
    rss_peak_mb: dict[str, float] = field(default_factory=dict)

    def cpu(self) -> dict[str, float]:
        children = _children()
        out = {}
        for name, pid in self.pids.items():
            try:
                out[name] = cpu_seconds(pid, children)
            except OSError:
                out[name] = float("nan")
        return out

    def sample_rss(self) -> None:
        for name, pid in self.pids.items():
            try:
                self.rss_peak_mb[name] = max(self.rss_peak_mb.get(name, 0.0), rss_mb(pid, "VmRSS"))
            except OSError:
                continue

    def final_peaks(self) -> dict[str, float]:
        """Our processes' own peak (VmHWM, their whole life is this run); Kafka's and Redis's sampled peak."""
        for name, pid in self.pids.items():
            if name not in self.shared:
                try:
                    self.rss_peak_mb[name] = max(self.rss_peak_mb.get(name, 0.0), rss_mb(pid, "VmHWM"))
                except OSError:
                    continue
        return {k: round(v, 1) for k, v in self.rss_peak_mb.items()}


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {"cores": os.cpu_count(), "ram_gb": round(mem_kb / 1024 / 1024, 1), "cpu": model}


def commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


# --- the run -------------------------------------------------------------------------------------


def bench_numbers(count: int, seed: int) -> list[str]:
    """`count` numbers where it is day now, from random blocks: the daily per-number caps in Redis must
    not block numbers an earlier run today called."""
    rng = random.Random(f"{seed}:{time.time_ns()}")
    out: dict[str, None] = {}
    for block in rng.sample(range(200), 200):
        if len(out) >= count:
            break
        out.update(dict.fromkeys(numbers_awake_now(min(1000, count - len(out)), start=block * 2000)))
    return list(out)[:count]


def patients(count: int) -> list[dict[str, str]]:
    return [
        {
            "name": f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {PATRONYMICS[(i // len(FIRST_NAMES)) % len(PATRONYMICS)]}",
            "time": f"{9 + (i // 7) % 9:02d}:{(i % 4) * 15:02d}",
        }
        for i in range(count)
    ]


@dataclass
class InFlightSampler:
    """Samples the scheduler's in-flight hash (admitted attempts not yet finished) every second."""

    client: redis.Redis
    key: str
    watched: Watched
    samples: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                self.samples.append((time.time(), int(self.client.hlen(self.key))))
            except redis.RedisError:
                continue
            self.watched.sample_rss()

    def in_window(self, start: float, end: float) -> list[int]:
        return [n for t, n in self.samples if start <= t <= end]


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 1)


def main() -> None:
    settings = BenchSettings.from_env()
    workdir = Path(tempfile.mkdtemp(prefix="obzvon-bench-"))
    print(f"logs and records: {workdir}", file=sys.stderr)
    sim_port = free_port(kind=2)
    ground_truth = workdir / "ground-truth.jsonl"
    numbers = bench_numbers(settings.contacts, settings.seed)
    stack = DevStack(
        workdir=workdir,
        topic_prefix=f"bench-{uuid.uuid4().hex[:8]}.",
        extra_env={
            "OBZVON_REDIS_URL": settings.redis_url,
            "OBZVON_RING_TIMEOUT_S": "5",
            "OBZVON_MAX_CALL_S": "120",
            # The population opts out at ~6 % of answered calls; the spam monitor's 10 % over 50 calls
            # would pause the campaign by chance in a long run, and the bench measures the calling.
            "OBZVON_SPAM_MAX_OPT_OUT_SHARE": "0.25",
        },
    )
    tenant_id, campaign_id = f"bench-{uuid.uuid4().hex[:8]}", "bench"
    sim = start_phonesim(workdir, sim_port=sim_port, ground_truth=ground_truth, mix=settings.mix, seed=settings.seed)
    api = ApiClient(stack)
    rdb = redis.Redis.from_url(settings.redis_url)
    started = False
    try:
        stack.start()
        stack.wait_ready()
        kafka, redis_server = listener_pid(9092), listener_pid(6379)
        pids = {name: proc.pid for name, proc in stack.processes.items()} | {"phonesim": sim.pid}
        pids |= {name: pid for name, pid in (("kafka", kafka), ("redis", redis_server)) if pid is not None}
        watched = Watched(pids=pids, shared={"kafka", "redis"})
        api.create_tenant(tenant_id)
        api.create_campaign(campaign_id, sim_port=sim_port, max_calls=settings.max_calls)
        api.import_contacts(campaign_id, numbers, patients(len(numbers)))
        sampler = InFlightSampler(rdb, keys.in_flight(tenant_id, campaign_id), watched)
        threading.Thread(target=sampler.run, daemon=True).start()
        load_before = os.getloadavg()[0]
        t0 = time.time()
        api.start(campaign_id)
        started = True
        window_start, window_end = t0 + settings.warmup_s, t0 + settings.warmup_s + settings.duration_s
        _sleep_until(window_start, stack)
        watched.cpu_at_start = watched.cpu()
        _sleep_until(window_end, stack)
        watched.cpu_at_end = watched.cpu()
        api.pause(campaign_id, "benchmark window over")
        started = False
        drained = _drain(rdb, keys.in_flight(tenant_id, campaign_id), stack, timeout_s=180)
        peaks = watched.final_peaks()
        sampler.stop.set()
        events = asyncio.run(
            compare.read_call_events(
                kafka_bootstrap(stack), stack.topic_prefix, tenant_id=tenant_id, campaign_id=campaign_id
            )
        )
    finally:
        if started:  # a crashed run must not leave a running campaign for the next scheduler of this DB
            try:
                api.pause(campaign_id, "benchmark aborted")
            except Exception as e:  # the scheduler may be the thing that died
                print(f"could not pause the campaign: {e!r}", file=sys.stderr)
        api.close()
        stack.stop()
        stop_process(sim)
    compare.write_events(workdir / "call-events.jsonl", events)
    calls = compare.read_phone_calls(ground_truth)
    comparison = compare.compare(events, calls, numbers=numbers)
    result = {
        "bench": "campaign_throughput",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **commit(),
        "machine": machine(),
        "load_average_before": round(load_before, 2),
        "window_s": settings.duration_s,
        "warmup_s": settings.warmup_s,
        "max_concurrent_calls": settings.max_calls,
        "mix": settings.mix,
        # Where this run's records are: `obzvon-phonesim compare` can be run again on them.
        "run_dir": str(workdir),
        "topic_prefix": stack.topic_prefix,
        "tenant": tenant_id,
        **measure(events, calls, sampler, watched, peaks, window_start, window_end, settings, numbers),
        "drained": drained,
        "comparison": comparison.as_dict(limit=30),
        "matches_ground_truth": comparison.matches_ground_truth,
    }
    line = json.dumps(result, ensure_ascii=False)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    print(line)
    sys.stdout.flush()


def measure(
    events: list[events_pb2.CallEvent],
    calls: list[dict[str, Any]],
    sampler: InFlightSampler,
    watched: Watched,
    peaks: dict[str, float],
    start: float,
    end: float,
    settings: BenchSettings,
    numbers: list[str],
) -> dict[str, Any]:
    """The window's figures: calls that ended in it, latencies of those calls, CPU spent in it."""
    attempts = [a for a in compare.attempts_of(events) if a.dialed]
    ended_in_window: list[compare.Attempt] = []
    first_audio_ms: list[float] = []
    for attempt in attempts:
        final = next((e for e in reversed(attempt.events) if e.type in compare.FINAL_EVENTS), None)
        if final is None or not start <= final.time.ToNanoseconds() / 1e9 <= end:
            continue
        ended_in_window.append(attempt)
        if final.HasField("robot_audio_after_answer"):
            first_audio_ms.append(final.robot_audio_after_answer.ToNanoseconds() / 1e6)
    results = [compare.obzvon_result(a) for a in ended_in_window]
    answered = sum(r.ending is compare.Ending.ANSWERED for r in results)
    turn_ms = [
        float(c["robot_audio_after_reply_ms"])
        for c in calls
        if c.get("robot_audio_after_reply_ms") is not None and start <= float(c.get("ts", 0)) <= end
    ]
    in_flight = sampler.in_window(start, end)
    window = end - start
    cpu = {
        name: round(watched.cpu_at_end[name] - watched.cpu_at_start[name], 2)
        for name in watched.pids
        if name in watched.cpu_at_start and name in watched.cpu_at_end
    }
    per_call = {name: round(s / len(ended_in_window), 3) if ended_in_window else None for name, s in cpu.items()}
    ours = [s for name, s in cpu.items() if name not in watched.shared]
    return {
        "contacts_imported": len(numbers),
        # Every contact was admitted: the box outran the target rate, and the window's rate understates it.
        "contacts_ran_out": len({a.phone_number for a in compare.attempts_of(events)}) >= len(numbers),
        "calls_ended_in_window": len(ended_in_window),
        "completed_calls_per_hour": round(len(ended_in_window) / window * 3600),
        "answered_calls_per_minute": round(answered / window * 60, 1),
        "calls_in_progress_mean": round(sum(in_flight) / len(in_flight), 1) if in_flight else None,
        "calls_in_progress_max": max(in_flight, default=None),
        "answer_to_first_audio_ms_p50": percentile(first_audio_ms, 50),
        "answer_to_first_audio_ms_p95": percentile(first_audio_ms, 95),
        "turn_latency_ms_p50": percentile(turn_ms, 50),
        "turn_latency_ms_p95": percentile(turn_ms, 95),
        "turns_timed": len(turn_ms),
        "cpu_s_in_window": cpu,
        "cpu_s_per_call": per_call,
        "cpu_s_per_call_services_and_phones": round(sum(ours) / len(ended_in_window), 3) if ended_in_window else None,
        "peak_rss_mb": peaks,
        "calls_by_ending": dict(Counter(str(r) for r in results).most_common()),
    }


def _sleep_until(moment: float, stack: DevStack) -> None:
    while time.time() < moment:
        stack.check_alive()
        time.sleep(min(1.0, max(0.0, moment - time.time())))


def _drain(client: redis.Redis, key: str, stack: DevStack, timeout_s: float) -> bool:
    """Waits for the calls in progress at the pause to end (the in-flight hash empty); False on timeout."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        stack.check_alive()
        if client.hlen(key) == 0:
            time.sleep(2.0)  # the last final events reach Kafka's readers
            return True
        time.sleep(1.0)
    return False


if __name__ == "__main__":
    main()
