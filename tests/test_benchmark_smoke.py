"""The engine benchmark runs end to end and every engine agrees with queueing theory (no timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_engine.py"


def test_quick_benchmark_agrees_with_theory():
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    # The agreement table's rows: | network | rho | customers | engine | ... | check | peak |
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| N")]
    rows = [[cell.strip() for cell in row] for row in rows if len(row) == 11]
    engines = {row[3] for row in rows}
    assert {"chainsim", "simpy"} <= engines
    # N1, N2 and N3 are long enough to check in every engine; each verdict is PASS.
    verdicts = {(row[0], row[3]): row[9] for row in rows}
    assert {net for net, _ in verdicts} == {"N1", "N2", "N3"}
    assert set(verdicts.values()) == {"PASS"}, verdicts
    assert "FAIL" not in result.stdout
    assert "agreement checks: all PASS" in result.stdout
