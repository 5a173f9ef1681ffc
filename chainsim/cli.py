"""The `chainsim` command: a thin door onto the public API (run, validate, and more).

Imports are done inside the commands, so `chainsim run` never loads Streamlit or plotly.
Bad input prints one clear message per problem and exits non-zero, never a traceback.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from chainsim.errors import ModelError, RunLimitError

EXIT_BAD_INPUT = 2
EXIT_RUN_LIMIT = 3


class Group(click.Group):
    """Turns the errors a user can fix into messages and exit codes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ModelError as exc:
            click.secho(f"error: {len(exc.problems)} problem(s):", fg="red", err=True)
            for problem in exc.problems:
                click.echo(f"  {problem}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except RunLimitError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(EXIT_RUN_LIMIT)
        except OSError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(EXIT_BAD_INPUT)


@click.group(cls=Group)
@click.version_option(package_name="chainsim")
def main() -> None:
    """Simulate how delays between departments reach external customers."""


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:,.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def _print_results(results) -> None:
    model = results.model
    s = results.summary()
    unit = model.time_unit + "s"
    click.secho(f"{model.name}: {results.replications} replications, seed {results.seed}, "
                f"{results.seconds:.2f} s", bold=True)
    for warning in results.warnings:
        click.secho(f"warning: {warning}", fg="yellow")

    def row(label: str, key: str, suffix: str = "") -> None:
        if key in s.index:
            m, lo, hi = s.loc[key, ["mean", "ci_low", "ci_high"]]
            click.echo(f"  {label:<34}{_fmt(m):>10}  [{_fmt(lo)}, {_fmt(hi)}] {suffix}")

    click.echo("\nExternal customers (mean, 95% CI)")
    row("arrived", "external.arrived")
    row("completed", "external.completed")
    row("abandoned or balked (share)", "external.abandonment_rate")
    row("time in system, mean", "external.time_in_system.mean", unit)
    row("time in system, p90", "external.time_in_system.p90", unit)
    row("queueing, mean", "external.queueing.mean", unit)
    row("within SLA (share)", "external.within_sla")
    row("expected churned customers", "churn.expected")
    row(f"revenue at risk ({model.currency})", "churn.revenue_at_risk")

    click.echo("\nDepartments")
    click.echo(f"  {'department':<16}{'util.':>7}{'held':>7}{'queue':>8}{'turnaround':>12}{'jobs':>9}{'delay share':>13}")
    for _, d in results.departments().iterrows():
        click.echo(f"  {d['label'][:15]:<16}{d['utilisation']:>7.0%}{d['held_share']:>7.0%}"
                   f"{_fmt(d['queue_length.mean']):>8}{_fmt(d['turnaround.mean']):>12}{_fmt(d['jobs']):>9}"
                   f"{d['delay_share']:>13.0%}")
    click.echo("\n  util. = busy staff-time / available; held = part of it waiting on suppliers;\n"
               "  delay share = share of external customers' time in system caused there.")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--replications", "-r", type=click.IntRange(1, 100_000), help="Replications (default: the file's).")
@click.option("--seed", "-s", type=click.IntRange(0), help="Root seed (default: the file's).")
@click.option("--horizon", type=click.FloatRange(min=0, min_open=True), help="Run length (default: the file's).")
@click.option("--workers", "-w", type=click.IntRange(0), default=1, show_default=True,
              help="Local processes; 0 = all cores.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write KPIs as JSON here ('-' for stdout).")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False), help="Write CSV tables into this folder.")
def run(model, replications, seed, horizon, workers, json_path, csv_dir) -> None:
    """Simulate MODEL and print external KPIs and each department's part in the delay."""
    from chainsim.api import simulate
    from chainsim.model import load_model

    m = load_model(model)
    if horizon is not None:
        m = m.with_changes({"run.horizon": horizon})
    results = simulate(m, replications=replications, seed=seed, workers=workers or None)
    if json_path == "-":
        click.echo(json.dumps(results.to_json(), indent=2))
        return
    _print_results(results)
    if json_path:
        Path(json_path).write_text(json.dumps(results.to_json(), indent=2))
        click.echo(f"\nwrote {json_path}")
    if csv_dir:
        folder = Path(csv_dir)
        folder.mkdir(parents=True, exist_ok=True)
        results.summary().to_csv(folder / "summary.csv")
        results.kpi_table().to_csv(folder / "kpis.csv", index=False)
        results.departments().to_csv(folder / "departments.csv")
        results.attribution().to_csv(folder / "attribution.csv", index=False)
        results.customers().to_csv(folder / "customers.csv", index=False)
        results.jobs().to_csv(folder / "jobs.csv", index=False)
        click.echo(f"wrote CSV tables to {folder}/")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
def validate(model) -> None:
    """Check MODEL: print its problems, or 'ok' with each department's expected utilisation."""
    from chainsim.load import offered_load
    from chainsim.model import load_model

    m = load_model(model)
    click.secho(f"ok: {m.name}", fg="green")
    click.echo(f"  {'department':<16}{'jobs/' + m.time_unit:>14}{'staff':>8}{'expected util.':>16}")
    for d in offered_load(m):
        flag = "  OVERLOADED" if d.overloaded else ""
        click.echo(f"  {m.label(d.department)[:15]:<16}{d.arrival_rate:>14.3g}{d.staff:>8.3g}{d.utilisation:>16.0%}{flag}")
    for d in offered_load(m):
        if d.overloaded:
            click.secho(f"warning: {m.label(d.department)} cannot keep up (utilisation {d.utilisation:.0%}); "
                        "queues will grow until the horizon.", fg="yellow")


if __name__ == "__main__":
    main()
