#!/usr/bin/env python3
"""Measures `telemeter fleet` and the Prometheus scraping it, for docs/FLEET.md.

For each AGENTSxSERIES given, starts `telemeter fleet` (release build) and a
Prometheus scraping it through the fleet's file_sd file at --interval, lets
it warm up, then reads over a window: the fleet process's CPU (utime+stime
from /proc) and resident memory, and Prometheus' own process_cpu_seconds_total
and process_resident_memory_bytes (from its /metrics), with the series it
holds. Everything binds 127.0.0.1 on ports the OS chooses; both processes
are this script's children and are stopped at the end.

  python3 scripts/fleet-measure.py --interval 15 --warmup 60 --window 90 100x2000 500x2000
"""
import argparse, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time
import resource, urllib.parse, urllib.request

HZ = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_cpu_rss(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / HZ
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return cpu, rss


def prom_own(addr):
    body = urllib.request.urlopen(f"http://{addr}/metrics", timeout=10).read().decode()
    want = {}
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes"):
        m = re.search(rf"^{name} (\S+)$", body, re.M)
        want[name] = float(m.group(1))
    return want["process_cpu_seconds_total"], want["process_resident_memory_bytes"]


def query(addr, q):
    url = f"http://{addr}/api/v1/query?query={urllib.parse.quote(q)}"
    try:
        r = json.load(urllib.request.urlopen(url, timeout=60))
        return float(r["data"]["result"][0]["value"][1])
    except Exception as e:
        print(f"query {q!r}: {e}", file=sys.stderr)
        return None


def raise_nofile():
    """Children may open a listener and a connection per agent: up to the
    hard limit of open files."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def measure(binary, prometheus, agents, series, interval, warmup, window):
    tmp = tempfile.mkdtemp(prefix="fleet-measure-")
    targets = os.path.join(tmp, "targets.json")
    fleet = subprocess.Popen(
        [binary, "fleet", "--agents", str(agents), "--series", str(series),
         "--targets-file", targets],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=raise_nofile)
    try:
        for _ in range(agents + 1):
            fleet.stdout.readline()
        addr = f"127.0.0.1:{free_port()}"
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write(
                f"global:\n  scrape_interval: {interval}s\n  scrape_timeout: {min(interval, 10)}s\n"
                f"scrape_configs:\n  - job_name: fleet\n    file_sd_configs:\n"
                f"      - files: ['{targets}']\n")
        prom = subprocess.Popen(
            [prometheus, f"--config.file={config}",
             f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
             f"--web.listen-address={addr}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=raise_nofile)
        try:
            time.sleep(warmup)
            t0 = time.time()
            f0, _ = proc_cpu_rss(fleet.pid)
            p0, _ = prom_own(addr)
            time.sleep(window)
            t1 = time.time()
            f1, frss = proc_cpu_rss(fleet.pid)
            p1, prss = prom_own(addr)
            stored = query(addr, 'count({job="telemeter-fleet"})')
            up = query(addr, 'count(up{job="telemeter-fleet"} == 1)')
            dt = t1 - t0
            return {
                "agents": agents, "series": series, "stored": stored, "up": up,
                "fleet_cpu": (f1 - f0) / dt, "fleet_rss": frss,
                "prom_cpu": (p1 - p0) / dt, "prom_rss": prss,
            }
        finally:
            prom.send_signal(signal.SIGTERM)
            prom.wait(timeout=30)
    finally:
        fleet.send_signal(signal.SIGTERM)
        fleet.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sizes", nargs="+", help="AGENTSxSERIES, e.g. 100x2000")
    ap.add_argument("--interval", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--window", type=int, default=90)
    ap.add_argument("--binary", default="target/release/telemeter")
    ap.add_argument("--prometheus", default=shutil.which("prometheus"))
    a = ap.parse_args()
    print("| agents x series | up | series stored | fleet CPU | fleet RSS | Prometheus CPU | Prometheus RSS | Prometheus per 100k series |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for size in a.sizes:
        agents, series = map(int, size.split("x"))
        r = measure(a.binary, a.prometheus, agents, series, a.interval, a.warmup, a.window)
        per = 100_000 / r["stored"] if r["stored"] else float("nan")
        print(f"| {agents} x {series} | {r['up']:.0f} | {r['stored']:.0f} | "
              f"{r['fleet_cpu'] * 100:.1f} % | {r['fleet_rss'] / 2**20:.0f} MiB | "
              f"{r['prom_cpu'] * 100:.1f} % | {r['prom_rss'] / 2**20:.0f} MiB | "
              f"{r['prom_cpu'] * 100 * per:.2f} % CPU, {r['prom_rss'] / 2**20 * per:.0f} MiB |",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
