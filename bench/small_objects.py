"""Small objects, every tool as its users run it: the per-object cost users feel.

On the discard endpoint (HTTPS), so the client's own cost shows, N x 16 KiB (10,000 and
100,000; 2,000 with --quick). Fair by construction:

* Every peer runs at its defaults, then at each point of a sweep of the setting its users
  tune first (rclone ``--transfers``/``--checkers``, s5cmd ``--numworkers``, bulkup
  ``--connections``). The larger set runs each tool's defaults and its best point of the
  smaller set.
* No peer gets a flag that adds requests or that its users would not use. rclone gets one
  flag the endpoint needs, ``--s3-no-head``: at its defaults rclone reads every object back
  after writing it (a HEAD the endpoint answers 404); the flag removes that request, so it
  only helps rclone. ``--no-traverse`` (one HEAD per object instead of one listing, meant for
  a few files into a large bucket) is a row of its own and never rclone's "best".
* The endpoint counts the requests each run made, shown per object.
* Runs are interleaved: each round runs every configuration once, the order turning each
  round; every figure is the median of the rounds, with min-max.

``python -m bench.small_objects [--quick] [--rounds N]`` runs it alone and writes
bench/results/small_objects.md; ``make bench`` runs it inside bench.compare.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from dataclasses import dataclass, field

from bench.lib import datasets
from bench.lib.discard import DUMMY_CREDENTIALS, DiscardEndpoint, data_requests
from bench.lib.paths import PEERS
from bench.lib.results import bench_arguments, publish, spread, turned
from bench.lib.tools import Endpoint, Tool, boto3_tool, rclone_env, s5cmd_tool, with_setting
from bench.lib.treeusage import Usage, measure

KiB, MiB = 1 << 10, 1 << 20
SIZE = 16 * KiB
ROUNDS = 3
QUICK_ROUNDS = 5  # a 2,000-object run takes ~0.5 s, within this machine's 2x swings: more rounds for its medians
GOAL_RATE, GOAL_CPU, GOAL_MEMORY = 1.5, 0.6, 2.0  # against rclone at its best honest setting
GOAL_COUNTS = (10_000, 100_000)  # where the goal holds as it is; a smaller (quick) run: within QUICK_SLACK
QUICK_SLACK = 0.2


@dataclass(frozen=True)
class Contender:
    """One configuration of one tool (``honest``: it may be its tool's best; a row that is
    not is shown for ``why``)."""

    tool: Tool
    family: str  # bulkup, rclone, s5cmd, boto3 CRT
    honest: bool = True
    why: str = ""


@dataclass
class Runs:
    """A contender's runs on one data set."""

    contender: Contender
    objects: int
    usages: list[Usage] = field(default_factory=list)
    requests: list[dict[str, int]] = field(default_factory=list)

    @property
    def rates(self) -> list[float]:
        return [self.objects / u.wall for u in self.usages]

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def cpu_us(self) -> list[float]:
        return [u.cpu / self.objects * 1e6 for u in self.usages]

    @property
    def peak_mib(self) -> list[float]:
        """Peak memory: anonymous, pages shared between the tree's processes split among them."""
        return [u.peak_pss_anon / MiB for u in self.usages]

    @property
    def peak_summed_mib(self) -> list[float]:
        """Peak anonymous memory summed over processes (a shared page once per process)."""
        return [u.peak_anon / MiB for u in self.usages]

    def requests_per_object(self) -> str:
        """Requests per object (median over the runs), and what besides PutObject was asked."""
        totals = [sum(r.values()) / self.objects for r in self.requests]
        others: dict[str, int] = {}
        for counts in self.requests:
            for op, n in counts.items():
                if op != "PutObject":
                    others[op] = max(others.get(op, 0), n)
        extra = ", ".join(f"{op} {n:,}" for op, n in sorted(others.items()))
        return f"{statistics.median(totals):.2f}" + (f" ({extra})" if extra else "")


def bulkup(endpoint: Endpoint, source: str, prefix: str, cache: str) -> Tool:
    """bulkup at its defaults, with the checksum AWS S3 gets (the endpoint verifies none, which
    would leave bulkup sending none: less work than it does for S3)."""
    argv = [sys.executable, "-m", "bulkup", "put", source, f"s3://{endpoint.bucket}/{prefix}"]
    argv += ["--endpoint-url", endpoint.url, "--addressing-style", "path", "--ca-bundle", endpoint.ca_file or ""]
    argv += ["--checksum", "crc64nvme", "--progress", "none"]
    return Tool("bulkup put", "defaults", argv, {"BULKUP_CACHE_DIR": cache}, bulkup=True)


def rclone(endpoint: Endpoint, folder: str, prefix: str) -> Tool:
    """rclone copy at its defaults, with an env-auth remote as its users configure one."""
    argv = [os.path.join(PEERS, "rclone"), "copy", folder, f"b:{endpoint.bucket}/{prefix.rstrip('/')}", "--s3-no-head"]
    env = rclone_env({"RCLONE_CONFIG_B_FORCE_PATH_STYLE": "true"}, endpoint.url, endpoint.ca_file)
    return Tool("rclone copy", "defaults (--transfers 4 --checkers 8)", argv, env)


def contenders(endpoint: Endpoint, folder: str, prefix: str, cache: str, quick: bool) -> list[Contender]:
    """Every tool's defaults, then its sweep points."""
    ours = bulkup(endpoint, folder + "/", f"{prefix}/bulkup/", cache)
    theirs = rclone(endpoint, folder, f"{prefix}/rclone/")
    s5 = s5cmd_tool(endpoint, folder, f"{prefix}/s5cmd/")
    crt = boto3_tool("crt", endpoint, folder, f"{prefix}/crt/", 8 * MiB, 8)
    points = (8, 32) if quick else (8, 16, 32, 64)
    return [
        Contender(ours, "bulkup"),
        *(
            Contender(with_setting(ours, ["--connections", str(c)], f"--connections {c} (per worker)"), "bulkup")
            for c in ((16,) if quick else (4, 16))
        ),
        Contender(theirs, "rclone"),
        *(
            Contender(
                with_setting(theirs, ["--transfers", str(n), "--checkers", str(n)], f"--transfers {n} --checkers {n}"),
                "rclone",
            )
            for n in points
        ),
        Contender(
            with_setting(theirs, ["--no-traverse"], "defaults + --no-traverse"),
            "rclone",
            honest=False,
            why="one HEAD per object instead of one listing: for a few files into a large bucket",
        ),
        Contender(s5, "s5cmd"),
        *(Contender(s5cmd_tool(endpoint, folder, f"{prefix}/s5cmd/", workers=n), "s5cmd") for n in points),
        Contender(Tool(crt.name, "defaults (its throughput target)", crt.argv, crt.env), "boto3 CRT"),
    ]


def run_round(order: list[Runs], endpoint: Endpoint, folder: str, discard: DiscardEndpoint) -> None:
    """Every contender once, in ``order``."""
    for runs in order:
        tool = runs.contender.tool
        datasets.warm(folder)
        mark = discard.mark()
        usage = measure(tool.argv, {**os.environ, **endpoint.env, **tool.env})
        counts = discard.requests(since=mark)
        if usage.returncode != 0 or data_requests(counts) < runs.objects:
            raise SystemExit(
                f"{tool.name} ({tool.settings}) failed: exit {usage.returncode}, "
                f"{data_requests(counts)} of {runs.objects} PUTs received\n{usage.output[-2000:]}"
            )
        runs.usages.append(usage)
        runs.requests.append(counts)
        print(
            f"small objects | {runs.objects:,} | {tool.name} ({tool.settings}): {usage.wall:.2f} s, "
            f"{runs.objects / usage.wall:,.0f} objects/s, {usage.cpu / runs.objects * 1e6:.0f} µs CPU/object",
            flush=True,
        )


def measure_set(
    group: list[Contender], endpoint: Endpoint, folder: str, discard: DiscardEndpoint, objects: int, rounds: int
) -> list[Runs]:
    """``rounds`` interleaved rounds of ``group``: round r starts r places further on."""
    all_runs = [Runs(c, objects) for c in group]
    for r in range(rounds):
        run_round(turned(all_runs, r, step=max(1, len(all_runs) // rounds)), endpoint, folder, discard)
    return all_runs


def best(all_runs: list[Runs], family: str) -> Runs:
    """The family's honest configuration with the highest median objects/s."""
    return max((r for r in all_runs if r.contender.family == family and r.contender.honest), key=lambda r: r.rate)


def run_small_objects(
    work: str, quick: bool, credentials: dict[str, str], rounds: int = 0, counts: tuple[int, ...] = ()
) -> list[str]:
    """The small-object sections: ``rounds`` interleaved rounds (0: ``QUICK_ROUNDS`` for a
    quick run, else ``ROUNDS``) of every contender over each data set."""
    counts = counts or ((2_000,) if quick else (10_000, 100_000))
    rounds = rounds or (QUICK_ROUNDS if quick else ROUNDS)
    lines: list[str] = []
    with DiscardEndpoint() as discard, tempfile.TemporaryDirectory(prefix="bulkup-bench-cache-") as cache:
        endpoint = Endpoint("discard (HTTPS)", discard.https_url, discard.ca_file, credentials)
        chosen: dict[str, Contender] = {}
        for count in counts:
            data = datasets.DataSet(datasets.describe(count, SIZE), f"16kib-{count}x{SIZE}", count, SIZE)
            folder = datasets.materialize(work, data)
            group = contenders(endpoint, folder, data.slug, cache, quick)
            if chosen:  # the larger set: each tool's defaults and its best of the smaller set
                group = [c for c in group if c.tool.settings.startswith("defaults") and c.honest or _same(c, chosen)]
            # The store's answers remembered, as for a user's second run of the day.
            warm = bulkup(endpoint, os.path.join(folder, os.listdir(folder)[0]), "warm/", cache)
            measure(warm.argv, {**os.environ, **endpoint.env, **warm.env})
            all_runs = measure_set(group, endpoint, folder, discard, count, rounds)
            if not chosen:
                chosen = {f: best(all_runs, f).contender for f in {c.family for c in group}}
            lines += section(data, all_runs, rounds)
    return lines


def _same(c: Contender, chosen: dict[str, Contender]) -> bool:
    return c.honest and chosen.get(c.family) is not None and chosen[c.family].tool.settings == c.tool.settings


def section(data: datasets.DataSet, all_runs: list[Runs], rounds: int) -> list[str]:
    rows = []
    bests = [best(all_runs, f).contender for f in {r.contender.family for r in all_runs}]
    for r in all_runs:
        c = r.contender
        mark = " **best**" if c in bests and sum(x.contender.family == c.family for x in all_runs) > 1 else ""
        note = f" ({c.why})" if c.why else ""
        rows.append(
            f"| {c.tool.name} | {c.tool.settings}{mark}{note} | {spread([u.wall for u in r.usages], 2)} | "
            f"{spread(r.rates, 0)} | {spread(r.cpu_us, 0)} | {spread(r.peak_mib, 0)} | "
            f"{spread(r.peak_summed_mib, 0)} | {r.requests_per_object()} |"
        )
    return [
        f"## Small objects: {data.name} (discard, HTTPS), every tool as its users run it",
        "",
        f"Medians of {rounds} interleaved rounds (min-max). CPU: the client's process tree, per object. "
        "Requests: all the endpoint received, per object (besides PutObject: the most any run asked). "
        "Memory: the tree's anonymous memory at its peak, a page its processes share split among them "
        "(Pss_Anon: what the run takes from the machine); summed: each process's RssAnon added up, a "
        "page a forked worker shares with its parent counted in each.",
        "",
        "| tool | settings | wall s | objects/s | client CPU µs/object | peak memory MiB | summed MiB "
        "| requests/object |",
        "|---|---|---:|---:|---:|---:|---:|---|",
        *rows,
        "",
        *verdict(all_runs, 0.0 if data.count in GOAL_COUNTS else QUICK_SLACK),
        "",
    ]


def verdict(all_runs: list[Runs], slack: float = 0.0) -> list[str]:
    """bulkup's defaults against rclone at its best honest setting (the goal, within ``slack``:
    a fraction less speed and more CPU and memory), and against the fastest peer."""
    ours = next(r for r in all_runs if r.contender.family == "bulkup" and r.contender.tool.settings == "defaults")
    lines = []
    peers = sorted({r.contender.family for r in all_runs} - {"bulkup"}, key=lambda f: -best(all_runs, f).rate)
    for family in ["rclone"] + [f for f in peers[:1] if f != "rclone"]:
        theirs = best(all_runs, family)
        rate = ours.rate / theirs.rate
        cpu = statistics.median(ours.cpu_us) / statistics.median(theirs.cpu_us)
        memory = statistics.median(ours.peak_mib) / statistics.median(theirs.peak_mib)
        summed = statistics.median(ours.peak_summed_mib) / statistics.median(theirs.peak_summed_mib)
        least_rate, most_cpu, most_memory = GOAL_RATE * (1 - slack), GOAL_CPU * (1 + slack), GOAL_MEMORY * (1 + slack)
        met = rate >= least_rate and cpu <= most_cpu and memory <= most_memory
        within = f", within {slack:.0%}" if slack else ""
        goal = (
            f" Goal{within} (>= {least_rate:g}x the objects/s at <= {most_cpu:g}x the CPU, <= {most_memory:g}x the "
            "memory): " + ("met." if met else "not met.")
            if family == "rclone"
            else ""
        )
        lines.append(
            f"bulkup at its defaults: {ours.rate:,.0f} objects/s, **{rate:.2f}x** {family} at its best "
            f"({theirs.contender.tool.settings}: {theirs.rate:,.0f}/s), at **{cpu:.2f}x** its client CPU per "
            f"object and {memory:.2f}x its peak memory ({summed:.2f}x summed over processes).{goal}"
        )
    return lines


def main() -> None:
    parser = bench_arguments(__doc__, "2,000 objects, fewer sweep points")
    parser.add_argument(
        "--objects", type=int, action="append", default=[], help="data set sizes (default 10,000 and 100,000)"
    )
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    lines = run_small_objects(args.work, args.quick, DUMMY_CREDENTIALS, args.rounds or 0, tuple(args.objects))
    publish("small_objects.md", lines)


if __name__ == "__main__":
    main()
