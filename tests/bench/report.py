#!/usr/bin/env python3
"""report.py - turns the JSON lines of a benchmark run into a report and a chart.

    python3 tests/bench/report.py RUN.jsonl META.json REPORT.md CHART.svg [BEFORE.jsonl]

RUN.jsonl holds one line per measured run, as printed by evs_bench and pg_bench (the line
that starts with {"bench":), with labels of the form SYSTEM/WORKLOAD, SYSTEM being evstore,
kafka or postgresql. META.json says where and how the run was made (tests/bench/run.sh
writes it). The report is Markdown: the side-by-side table, the details of every run, the
settings. The chart is an SVG drawn here from the same numbers (no plotting library): for
each workload, throughput and p99 latency of the three systems. With BEFORE.jsonl (the JSON
lines of an earlier run, e.g. of an older evstore), the report also compares evstore's
numbers of the two runs.

Only the standard library; Python 3.9 or later.
"""
import json
import math
import sys

SYSTEMS = ("evstore", "kafka", "postgresql")
SYSTEM_NAMES = {
    "evstore": "evstore",
    "kafka": "Kafka ceiling (librdkafka only)",
    "postgresql": "PostgreSQL design",
}
COLOURS = {"evstore": "#2f6db5", "kafka": "#9aa0a6", "postgresql": "#d9822b"}

# The workloads of the report, in order: key, title, what the number counts.
WORKLOADS = (
    ("w1", "W1: 1 writer, 1 event/append, exact version", "appends"),
    ("w2-uniform", "W2: 16 writers, 1 event/append, 10,000 streams, uniform", "appends"),
    ("w2-zipf", "W2z: 16 writers, 1 event/append, 10,000 streams, Zipf", "appends"),
    ("w3-uniform", "W3: 64 writers, 1 event/append, 10,000 streams, uniform", "appends"),
    ("w3-zipf", "W3z: 64 writers, 1 event/append, 10,000 streams, Zipf", "appends"),
    ("w4", "W4: 4 writers, 100 events/append", "appends"),
    ("w5-1", "W5: OCC loop, 1 writer (read the last 20 events, append 1 at that version)",
     "commands"),
    ("w5-16", "W5: OCC loop, 16 writers, 10,000 streams, uniform", "commands"),
    ("r1", "R1: read $all from the start, pages of 1000", "events"),
    ("r1-subscription", "R1s: $all from the start through a catch-up subscription", "events"),
    ("r2", "R2: read one 100-event stream", "reads"),
    ("s1", "S1: append-to-subscriber, 1000 appends/s", "events"),
    ("b1", "B1: rebuild the projection from the topic", "events"),
)
# Workloads drawn in the chart (throughput in events/s and p99 both make sense for these).
CHART_WORKLOADS = ("w1", "w2-uniform", "w2-zipf", "w3-uniform", "w3-zipf", "w4", "r1", "r2")


def load(path):
    runs = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith('{"bench"'):
                continue
            run = json.loads(line)
            label = run.get("label", "")
            if "/" in label:
                system, workload = label.split("/", 1)
                runs[(system, workload)] = run
    return runs


def rate(run, workload):
    """Events/s of a run (reads/s for R2, where one read is the unit; commands/s for W5)."""
    if run is None:
        return None
    if workload == "r2":
        return run.get("reads_per_s")
    if run.get("bench") == "occ-loop":
        return run.get("commands_per_s")
    if workload == "r1" and run.get("bench") == "kafka-ceiling":
        return run.get("consume_events_per_s")
    return run.get("events_per_s")


def p(run, name, workload=None):
    if run is None:
        return None
    if workload == "r1":
        return None  # one long read: no per-call latency
    return run.get(name)


def fmt_int(v):
    return "–" if v is None else f"{v:,.0f}"


def fmt_ms(us):
    return "–" if us is None else f"{us / 1000:.2f}"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}" if a / b < 10 else f"{a / b:.1f}"


def errors_text(run):
    if run is None:
        return "–"
    e = run.get("errors") or {}
    return ", ".join(f"{k} {v}" for k, v in e.items()) or "none"


def report(runs, meta, out):
    w = out.write
    w(f"Run of {meta.get('date', '?')}: `{meta.get('command', 'bash tests/bench/run.sh')}`\n\n")
    w("| workload | evstore events/s | evstore p50 / p99 ms | Kafka ceiling events/s "
      "| evstore / Kafka | PostgreSQL events/s | PostgreSQL p50 / p99 ms | evstore / PostgreSQL |\n")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
    for key, title, _ in WORKLOADS:
        ev, kf, pg = (runs.get((s, key)) for s in SYSTEMS)
        if ev is None and kf is None and pg is None:
            continue
        unit = " (reads/s)" if key == "r2" else " (commands/s)" if key.startswith("w5") else ""
        ev_r, kf_r, pg_r = rate(ev, key), rate(kf, key), rate(pg, key)

        def lat(run):
            a, b = p(run, "p50_us", key), p(run, "p99_us", key)
            return "–" if a is None else f"{fmt_ms(a)} / {fmt_ms(b)}"

        w(f"| {title}{unit} | {fmt_int(ev_r)} | {lat(ev)} | {fmt_int(kf_r)} | "
          f"{fmt_ratio(ev_r, kf_r)} | {fmt_int(pg_r)} | {lat(pg)} | {fmt_ratio(ev_r, pg_r)} |\n")
    w("\nLatency per call (an append including its retries, a read; a W5 command with all its "
      "reads and appends), from a log-linear histogram (a value is at most 1.6 % above the "
      "true one). Kafka ceiling latency: from produce to the delivery report.\n\n")
    occ_note(runs, out)
    memory_note(runs, out)

    replicas(runs, out)
    w("### Every run\n\n")
    w("| run | count | seconds | ops/s | events/s | p50 µs | p95 µs | p99 µs | p99.9 µs "
      "| max µs | conflicts | errors |\n")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
    for (system, workload), run in sorted(runs.items(), key=order_key):
        if run.get("bench", "").startswith("cluster-") or run.get("bench") in ("replica-join",
                                                                               "feed-lag",
                                                                               "forget",
                                                                               "memory"):
            continue  # in the replicas table
        if workload == "r1" and run.get("bench") == "kafka-ceiling":
            # The consumer side of the ceiling's W4 run: its reading, not its producing.
            run = {"records": run.get("consume_records"), "seconds": run.get("consume_seconds"),
                   "records_per_s": run.get("consume_records_per_s"),
                   "events_per_s": run.get("consume_events_per_s"), "errors": run.get("errors")}
        count = run.get("commands", run.get("appends", run.get("reads", run.get(
            "records", run.get("events")))))
        ops = run.get("commands_per_s", run.get("appends_per_s", run.get(
            "reads_per_s", run.get("records_per_s"))))
        w(f"| {system}/{workload} | {fmt_int(count)} | {run.get('seconds', '–')} | "
          f"{fmt_int(ops)} | {fmt_int(run.get('events_per_s'))} | "
          f"{fmt_int(run.get('p50_us'))} | {fmt_int(run.get('p95_us'))} | "
          f"{fmt_int(run.get('p99_us'))} | {fmt_int(run.get('p999_us'))} | "
          f"{fmt_int(run.get('max_us'))} | {fmt_int(run.get('conflicts'))} | "
          f"{errors_text(run)} |\n")
    w("\n")
    notes = meta.get("notes") or []
    for line in notes:
        w(f"- {line}\n")
    if notes:
        w("\n")
    w("### Where and how\n\n")
    for k in ("machine", "load", "kafka", "evstore", "postgresql", "events", "prefill",
              "durability"):
        if meta.get(k):
            w(f"- {k}: {meta[k]}\n")


def occ_note(runs, out):
    """W5's conflicts and the reads' share of a command's time, after the table."""
    parts = []
    for system in SYSTEMS:
        for key in ("w5-1", "w5-16"):
            run = runs.get((system, key))
            if run is None or run.get("bench") != "occ-loop":
                continue
            commands = run.get("commands") or 0
            conflicts = run.get("conflicts") or 0
            share = run.get("read_share")
            writers = run.get("writers", "?")
            parts.append(f"{SYSTEM_NAMES[system]}, {writers} writer{'' if writers == 1 else 's'}: "
                         f"reads "
                         f"{'–' if share is None else f'{100 * share:.0f} %'} of the time, read "
                         f"p50 {fmt_ms(run.get('read_p50_us'))} ms, {conflicts} conflicts"
                         + (f" ({conflicts / commands:.3f} per command)" if commands else ""))
    if parts:
        out.write("W5 (a command handler: read the stream's last 20 events, append one event "
                  "expecting exactly the version read, both again on a conflict): "
                  + "; ".join(parts) + ".\n\n")


def memory_note(runs, out):
    """The projector's resident memory after the prefill and at the end of its life."""
    parts = []
    for key, when in (("memory-after-prefill", "after the prefill"),
                      ("memory-after-run", "after the run")):
        run = runs.get(("evstore", key))
        if run is None or run.get("bench") != "memory":
            continue

        def mib(v):
            return "–" if v is None else f"{v / (1 << 20):.0f} MiB"

        parts.append(f"{when} ({fmt_int(run.get('events'))} events): resident "
                     f"{mib(run.get('rss_bytes'))} (peak {mib(run.get('peak_rss_bytes'))}), "
                     f"block cache {mib(run.get('block_cache_bytes'))}, memtables "
                     f"{mib(run.get('memtable_bytes'))}")
    if parts:
        out.write("Projector memory (defaults: block cache 256 MiB, two memtables of 64 MiB; "
                  "docs/OPERATIONS.md, \"Memory\"): " + "; ".join(parts) + ".\n\n")


def median(values):
    v = sorted(values)
    n = len(v)
    return None if n == 0 else (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2)


def replicas(runs, out):
    """C1, R3, J1 and K1: checkpoint saves, reads over one and two replicas, a replica
    joining the filled topic, and the stall of a replica kill (run.sh, replica_runs); F1 and
    the feed's cost; W3 and W4 sealed, and E1 (run.sh, sealed_runs)."""
    ev = {workload: run for (system, workload), run in runs.items() if system == "evstore"}
    kills = [run for key, run in sorted(ev.items()) if key.startswith("k1-")]
    if not any(k in ev for k in ("c1-checkpoint", "r3-1-replica", "j1", "f1-feed-lag",
                                 "w3-uniform-sealed", "w4-sealed", "e1-forget")) \
            and not kills:
        return
    w = out.write
    w("### Replicas, the feed and personal data\n\n| run | number |\n| --- | --- |\n")
    c1 = ev.get("c1-checkpoint")
    if c1:
        w(f"| C1: checkpoint save through the state topic (one Kafka transaction, applied "
          f"before the answer), {fmt_int(c1.get('count'))} one at a time | p50 "
          f"{c1['p50_ms']:.2f} ms, p99 {c1['p99_ms']:.2f} ms, max {c1['max_ms']:.1f} ms |\n")
    for key, title in (("r3-1-replica", "1 replica"), ("r3-2-replicas", "2 replicas")):
        r = ev.get(key)
        if r:
            w(f"| R3: reads of 100 events, {r['readers']} readers, {title} | "
              f"{fmt_int(r['reads_per_s'])} reads/s ({fmt_int(r['events_per_s'])} events/s), "
              f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, {r['errors']} errors |\n")
    j1 = ev.get("j1")
    if j1:
        w(f"| J1: a new replica joins the topic of {fmt_int(j1.get('events'))} events: time "
          f"until it serves all of it | {j1['seconds']} s ({fmt_int(j1.get('events_per_s'))} "
          f"events/s) |\n")
    f1 = ev.get("f1-feed-lag")
    if f1:
        w(f"| F1: the accepted-events feed's lag behind the verdict, {fmt_int(f1['count'])} "
          f"appends at {f1['rate']}/s | p50 {f1['p50_ms']:.2f} ms, p99 {f1['p99_ms']:.2f} ms, "
          f"max {f1['max_ms']:.1f} ms ({f1['before_verdict']} records came first) |\n")
    # The same workload with something on, beside the plain run.
    variants = (("feed", "with the feed on / off"),
                ("sealed", "with every event personal data (sealed) / plain"))
    for suffix, what in variants:
        for base, title in (("w3-uniform", "W3"), ("w4", "W4")):
            on, off = ev.get(f"{base}-{suffix}"), ev.get(base)
            if on and off:
                w(f"| {title} {what} | {fmt_int(on.get('events_per_s'))} / "
                  f"{fmt_int(off.get('events_per_s'))} events/s "
                  f"({fmt_ratio(on.get('events_per_s'), off.get('events_per_s'))}) |\n")
    e1 = ev.get("e1-forget")
    if e1:
        w(f"| E1: forgetting a subject (DELETE /keys/S, {e1['count']} subjects) | p50 "
          f"{e1['p50_ms']:.1f} ms, max {e1['max_ms']:.1f} ms |\n")
    if kills:
        a = [k["max_append_ms"] for k in kills]
        r = [k["max_read_ms"] for k in kills]
        failed = sum(k["failed_appends"] + k["failed_reads"] for k in kills)
        w(f"| K1: kill -9 of a replica under load (2 writers, 2 readers knowing both), "
          f"{len(kills)} kills: longest append | p50 {median(a):.0f} ms, max {max(a):.0f} ms |\n")
        w(f"| K1: longest read | p50 {median(r):.0f} ms, max {max(r):.0f} ms |\n")
        w(f"| K1: failed calls seen by the clients | {failed} |\n")
    w("\n")


def order_key(item):
    (system, workload), _ = item
    keys = [k for k, _, _ in WORKLOADS]
    s = SYSTEMS.index(system) if system in SYSTEMS else len(SYSTEMS)
    base = workload.split("-linger")[0].removesuffix("-feed").removesuffix("-sealed")
    wk = keys.index(base) if base in keys else len(keys)
    return (wk, s, workload)


# ---- the chart --------------------------------------------------------------------------

def esc(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def log_axis(values):
    """Powers of ten that span the values."""
    vals = [v for v in values if v and v > 0]
    if not vals:
        return 1, 10
    lo = 10 ** math.floor(math.log10(min(vals)))
    hi = 10 ** math.ceil(math.log10(max(vals)))
    if hi <= lo:
        hi = lo * 10
    return lo, hi


def panel(svg, x0, y0, width, height, title, unit, series, labels):
    """Grouped bars on a log scale. series: {system: [value or None per label]}."""
    values = [v for vs in series.values() for v in vs]
    lo, hi = log_axis(values)
    decades = round(math.log10(hi / lo))
    svg.append(f'<text x="{x0}" y="{y0 - 12}" font-size="15" font-weight="bold">{esc(title)}</text>')
    for i in range(decades + 1):
        v = lo * 10 ** i
        y = y0 + height - height * i / decades
        svg.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + width}" y2="{y:.1f}" '
                   'stroke="#ddd" stroke-width="1"/>')
        svg.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
                   f'{esc(si(v))}</text>')
    svg.append(f'<text x="{x0 - 48}" y="{y0 + height / 2:.1f}" font-size="12" '
               f'transform="rotate(-90 {x0 - 48} {y0 + height / 2:.1f})" text-anchor="middle">'
               f'{esc(unit)} (log scale)</text>')
    group_w = width / len(labels)
    bar_w = group_w * 0.8 / len(SYSTEMS)
    for gi, label in enumerate(labels):
        gx = x0 + gi * group_w + group_w * 0.1
        for si_, system in enumerate(SYSTEMS):
            v = series[system][gi]
            bx = gx + si_ * bar_w
            if v is None or v <= 0:
                svg.append(f'<text x="{bx + bar_w / 2:.1f}" y="{y0 + height - 3}" font-size="9" '
                           'text-anchor="middle" fill="#999">n/a</text>')
                continue
            frac = max(0.0, math.log10(v / lo) / decades)
            bh = height * frac
            svg.append(f'<rect x="{bx:.1f}" y="{y0 + height - bh:.1f}" width="{bar_w - 1:.1f}" '
                       f'height="{bh:.1f}" fill="{COLOURS[system]}"><title>'
                       f'{esc(SYSTEM_NAMES[system])}, {esc(label)}: {v:,.0f} {esc(unit)}'
                       '</title></rect>')
            svg.append(f'<text x="{bx + bar_w / 2:.1f}" y="{y0 + height - bh - 3:.1f}" '
                       f'font-size="8.5" text-anchor="middle">{esc(si(v))}</text>')
        svg.append(f'<text x="{gx + group_w * 0.4:.1f}" y="{y0 + height + 16}" font-size="12" '
                   f'text-anchor="middle">{esc(label)}</text>')
    svg.append(f'<line x1="{x0}" y1="{y0 + height}" x2="{x0 + width}" y2="{y0 + height}" '
               'stroke="#444" stroke-width="1"/>')


def si(v):
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if v >= div:
            s = f"{v / div:.1f}".rstrip("0").rstrip(".")
            return s + suffix
    return f"{v:.3g}" if v < 10 else f"{v:.0f}"


def chart(runs, meta, out):
    short = {"w1": "W1", "w2-uniform": "W2", "w2-zipf": "W2z", "w3-uniform": "W3",
             "w3-zipf": "W3z", "w4": "W4", "r1": "R1", "r2": "R2 (reads/s)"}
    labels = [short[k] for k in CHART_WORKLOADS]
    thr = {s: [rate(runs.get((s, k)), k) for k in CHART_WORKLOADS] for s in SYSTEMS}
    lat_keys = [k for k in CHART_WORKLOADS if k != "r1"]
    lat = {s: [(runs.get((s, k)) or {}).get("p99_us") for k in lat_keys] for s in SYSTEMS}
    lat = {s: [None if v is None else v / 1000 for v in vs] for s, vs in lat.items()}
    width, height = 1000, 760
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="20" y="28" font-size="18" font-weight="bold">evstore benchmark, '
           f'{esc(meta.get("date", ""))}</text>',
           f'<text x="20" y="48" font-size="12" fill="#555">{esc(meta.get("machine", ""))}'
           '</text>']
    panel(svg, 90, 100, 880, 250, "Throughput (events/s; R2: reads/s) - higher is better",
          "events/s", thr, labels)
    panel(svg, 90, 440, 880 * len(lat_keys) / len(CHART_WORKLOADS), 230,
          "p99 latency per call (ms) - lower is better", "ms", lat,
          [short[k].split(" ")[0] for k in lat_keys])
    lx = 90
    for system in SYSTEMS:
        svg.append(f'<rect x="{lx}" y="{height - 40}" width="14" height="14" '
                   f'fill="{COLOURS[system]}"/>')
        svg.append(f'<text x="{lx + 20}" y="{height - 28}" font-size="13">'
                   f'{esc(SYSTEM_NAMES[system])}</text>')
        lx += 30 + 8 * len(SYSTEM_NAMES[system])
    svg.append("</svg>")
    out.write("\n".join(svg) + "\n")


def compare(before, after, out):
    """evstore's runs of an earlier run (before) next to this one's (after)."""
    w = out.write
    w("\n### evstore before and after\n\n")
    w("| workload | before events/s | after events/s | after / before "
      "| before p50 / p99 ms | after p50 / p99 ms |\n")
    w("| --- | ---: | ---: | ---: | ---: | ---: |\n")
    keys = [k for k, _, _ in WORKLOADS]
    workloads = sorted({wl for (s, wl) in list(before) + list(after) if s == "evstore"},
                       key=lambda wl: (keys.index(wl.split("-linger")[0])
                                       if wl.split("-linger")[0] in keys else len(keys), wl))
    for wl in workloads:
        b, a = before.get(("evstore", wl)), after.get(("evstore", wl))
        base = wl.split("-linger")[0]

        def lat(run):
            x, y = p(run, "p50_us", base), p(run, "p99_us", base)
            return "–" if x is None else f"{fmt_ms(x)} / {fmt_ms(y)}"

        br, ar = rate(b, base), rate(a, base)
        w(f"| {wl} | {fmt_int(br)} | {fmt_int(ar)} | {fmt_ratio(ar, br)} | {lat(b)} | "
          f"{lat(a)} |\n")
    w("\nR2 rows count reads/s, W5 rows commands/s. Both runs on the same machine with the same "
      "run.sh settings.\n")


def main(argv):
    if len(argv) not in (5, 6):
        sys.stderr.write(__doc__)
        return 2
    runs = load(argv[1])
    with open(argv[2], encoding="utf-8") as f:
        meta = json.load(f)
    with open(argv[3], "w", encoding="utf-8") as f:
        report(runs, meta, f)
        if len(argv) == 6:
            compare(load(argv[5]), runs, f)
    with open(argv[4], "w", encoding="utf-8") as f:
        chart(runs, meta, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
