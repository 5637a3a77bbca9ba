"""The benchmarks run, on the Dovecot version under test, with a handful of
messages: their numbers mean nothing at this size, but a benchmark that no
longer starts its server, delivers or prints its table fails here and not
on the day someone wants numbers. ./test runs this once per version (with
the pure Python tests, on the first mail format)."""

import os
import re
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("COI_SANITIZE_LOG")),
    reason="benchmarks measure the normal build, not the sanitizer one")

# a table row: "| name | number | ... |"
ROW = re.compile(r"^\| ([^|]+?) \| [0-9.]+ \|")


def run_bench(script, *args):
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, script)] + list(args),
        capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def table_rows(output):
    return [m.group(1) for m in map(ROW.match, output.splitlines()) if m]


def test_bench_delivery():
    out = run_bench("bench_delivery.py", "--messages", "20", "--rounds", "2")
    assert table_rows(out) == ["vanilla + Sieve", "coi plugin, active",
                               "sieve_before script", "+detail address"]


def test_bench_delivery_callgrind():
    out = run_bench("bench_delivery.py", "--callgrind", "--messages", "4")
    assert table_rows(out) == ["vanilla + Sieve", "coi plugin, active",
                               "sieve_before script", "+detail address"]
    outdir = re.search(r"^callgrind files: (\S+)$", out, re.M).group(1)
    shutil.rmtree(outdir)


def test_bench_blocklist():
    out = run_bench("bench_blocklist.py", "--messages", "20", "--rounds",
                    "2", "--contacts", "50", "--blocked", "5")
    assert table_rows(out) == ["no contacts", "with contacts",
                               "blocked sender"]


def test_bench_push():
    out = run_bench("bench_push.py", "--messages", "10", "--rounds", "1",
                    "--block", "5")
    assert table_rows(out) == ["1", "10", "no subscriptions",
                               "1 subscription, push service never answers"]


def test_bench_devicetoken():
    out = run_bench("bench_devicetoken.py", "--messages", "10", "--rounds",
                    "1")
    rows = table_rows(out)
    assert rows[-3:] == ["no device tokens",
                         "1 token, notifier answers 200",
                         "1 token, notifier never answers"], out


def test_bench_idle():
    out = run_bench("bench_idle.py", "--messages", "2", "--smtp", "2",
                    "--deltachat", "1", "--burst", "10", "--rounds", "1")
    # LMTP, SMTP, Delta Chat, burst
    assert table_rows(out) == ["coi plugin", "vanilla"] * 4
