"""How much demand growth can the bank absorb, and which single hire buys the most headroom?

A batch script on the public API: demand grows 0, 10, 20 and 30% (arrival rate), crossed with no
hire, or one more person at the front desk, Compliance or IT. For each growth level it prints the
customers' mean time in system per option, and the hire that keeps it closest to today's level.

    python experiments/demand_headroom.py                       # 30 replications, all cores
    python experiments/demand_headroom.py -r 5 --workers 1 --out headroom.sqlite
"""

from __future__ import annotations

import argparse
from pathlib import Path

from chainsim import Experiment, Scenario, load_model

MODEL = Path(__file__).resolve().parent.parent / "models" / "retail_bank.yaml"
GROWTH = (0, 10, 20, 30)
HIRES = {"no hire": None, "front desk": "front_desk", "compliance": "compliance", "IT": "it"}
KPI = "external.time_in_system.mean"


def scenarios() -> list[Scenario]:
    """Every (growth, hire) pair; growth 0 with no hire is the baseline."""
    out = []
    for growth in GROWTH:
        for option, department in HIRES.items():
            levers = [{"lever": "demand_growth", "percent": growth}] if growth else []
            if department:
                levers.append({"lever": "add_staff", "department": department, "count": 1})
            name = "baseline" if not levers else f"+{growth}% demand, {option}"
            out.append(Scenario(name, levers=levers, factors={"growth": growth, "hire": option}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--replications", type=int, default=30)
    parser.add_argument("-w", "--workers", type=int, default=0, help="0 = all cores, 1 = serial")
    parser.add_argument("--out", help="SQLite results store (optional)")
    args = parser.parse_args()

    experiment = Experiment(load_model(MODEL), scenarios(), name="demand_headroom",
                            replications=args.replications, kpis=[KPI, "external.abandonment_rate"])
    experiment.run(workers=args.workers or None, store=args.out)
    means = experiment.summary([KPI]).set_index("scenario")["mean"]
    today = means["baseline"]
    print(f"Mean time in system today: {today:.1f} min ({args.replications} replications per scenario)\n")
    print(f"{'demand':>8}" + "".join(f"{option:>14}" for option in HIRES) + "   best hire")
    for s_growth in GROWTH:
        row = {option: means[s.name] for s in experiment.scenarios
               if s.factors["growth"] == s_growth for option in [s.factors["hire"]]}
        best = min((o for o in row if o != "no hire"), key=row.get)
        print(f"{f'+{s_growth}%':>8}" + "".join(f"{row[o]:>14.1f}" for o in HIRES) + f"   {best}")


if __name__ == "__main__":
    main()
