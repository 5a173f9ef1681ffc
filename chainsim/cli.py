"""The `chainsim` command: a thin door onto the public API (run, validate, and more).

Imports are done inside the commands, so `chainsim run` never loads Streamlit or plotly.
Bad input prints one clear message per problem and exits non-zero, never a traceback.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
import tempfile
from numbers import Real
from pathlib import Path

import click

from chainsim.errors import MAX_REPLICATIONS, ClusterError, ModelError, RunLimitError, WorkerLostError

EXIT_BAD_INPUT = 2
EXIT_RUN_LIMIT = 3  # a run cap stopped a replication (run), or replications of an experiment failed
EXIT_NO_BASELINE = 4  # every replication of the baseline failed: there is nothing to compare with
EXIT_WORKER_LOST = 5  # a worker process died (killed, out of memory): not the input's fault, worth running again
EXIT_INTERRUPTED = 130  # Ctrl-C, the shell's convention
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away (`| head`), as for a process stopped by SIGPIPE


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
        except WorkerLostError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(EXIT_WORKER_LOST)
        except KeyboardInterrupt:  # Ctrl-C in run, report or summarise (experiment says how to resume)
            click.secho("\nstopped (Ctrl-C)", fg="yellow", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:  # the reader has what it wanted (`| head`): stop quietly, as `yes` does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
            sys.exit(EXIT_BROKEN_PIPE)
        except (ClusterError, OSError) as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(EXIT_BAD_INPUT)


@click.group(cls=Group)
@click.version_option(package_name="chainsim")
def main() -> None:
    """Simulate how delays between departments reach external customers."""


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, bool) or not isinstance(x, Real):  # a design's value such as a shift schedule
        return str(x)
    return f"{x:,.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def _pct(x: float) -> str:
    """A share as a whole percentage; '-' where there is none (no customer completed, no staff on duty)."""
    return "-" if math.isnan(x) else f"{x:.0%}"


def _print_results(results) -> None:
    model = results.model
    s = results.summary()
    unit = model.time_unit + "s"
    click.secho(f"{model.name}: {results.replications} replication{'s' if results.replications != 1 else ''}, "
                f"seed {results.seed}, "
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

    departments = results.departments()
    width = _label_width(departments["label"])
    click.echo("\nDepartments")
    click.echo(f"  {'department':<{width}}{'util.':>7}{'held':>7}{'queue':>8}{'turnaround':>12}{'jobs':>9}{'delay share':>13}")
    for _, d in departments.iterrows():
        click.echo(f"  {d['label']:<{width}}{_pct(d['utilisation']):>7}{_pct(d['held_share']):>7}"
                   f"{_fmt(d['queue_length.mean']):>8}{_fmt(d['turnaround.mean']):>12}{_fmt(d['jobs']):>9}"
                   f"{_pct(d['delay_share']):>13}")
    click.echo("\n  util. = busy staff-time / available; held = part of it waiting on suppliers;\n"
               "  delay share = share of external customers' time in system caused there.")


def _label_width(labels) -> int:
    """A column wide enough for every department's label: cut, 'Doctors (patients)' would read 'Doctors (patien'."""
    return max(16, max((len(label) for label in labels), default=0) + 2)


def _check_not_an_input(path: str | None, option: str, inputs: list[str | Path]) -> None:
    """Refuse an output that is one of the inputs (same file by any name): writing it would destroy the input."""
    if not path or path == "-" or not Path(path).exists():
        return
    for given in inputs:
        if Path(given).exists() and os.path.samefile(path, given):
            raise click.BadParameter(f"{path} is the input {given}: writing there would overwrite it: choose "
                                     "another path", param_hint=option)


def _check_outputs_apart(outputs: list[tuple[str, str | None]]) -> None:
    """Refuse two outputs of one command at one path (by any name): the second would overwrite the first."""
    seen: dict[Path, str] = {}
    for option, path in outputs:
        if not path or path == "-":
            continue
        where = Path(path).resolve()
        if where in seen:
            raise click.BadParameter(f"{path} is also written by {seen[where]}: one would overwrite the other: "
                                     "choose another path", param_hint=option)
        seen[where] = option


def _model_inputs(path: str, model) -> list[str | Path]:
    """The files a model run reads: the model file and its arrival traces."""
    return [path, *model.trace_files()]


def _check_writable(path: str | None, option: str, folder: bool = False) -> None:
    """Fail before simulating, not after: an output that cannot be written would waste the whole run."""
    if not path or path == "-":
        return
    target = Path(path)
    try:
        if folder:  # written later with mkdir(parents=True): the nearest existing folder must take files
            existing = next(p for p in [target, *target.parents] if p.exists())
            if not existing.is_dir():
                raise NotADirectoryError(f"{existing} is a file, not a folder")
            tempfile.TemporaryFile(dir=existing).close()
        elif target.exists():
            if target.is_dir():
                raise IsADirectoryError("it is a folder")
            open(target, "a").close()  # appending nothing changes nothing
        else:
            open(target, "x").close()  # the surest test is to create it
            target.unlink()
    except OSError as exc:
        missing = isinstance(exc, FileNotFoundError) and not folder and not target.parent.exists()
        reason = f"folder {target.parent} does not exist" if missing else exc.strerror or str(exc)
        raise click.BadParameter(f"cannot write {path}: {reason}: choose another path", param_hint=option) from None


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--replications", "-r", type=click.IntRange(1, MAX_REPLICATIONS), help="Replications (default: the file's).")
@click.option("--seed", "-s", type=click.IntRange(0), help="Root seed (default: the file's).")
@click.option("--horizon", type=click.FloatRange(min=0, min_open=True), help="Run length (default: the file's).")
@click.option("--workers", "-w", type=click.IntRange(0), default=1, show_default=True,
              help="Local processes; 0 = all cores.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write KPIs as JSON here ('-' for stdout).")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False), help="Write CSV tables into this folder.")
def run(model, replications, seed, horizon, workers, json_path, csv_dir) -> None:
    """Simulate MODEL and print external KPIs and each department's part in the delay."""
    from chainsim.api import CSV_FILES, simulate
    from chainsim.model import load_model

    _check_outputs_apart([("--csv", str(Path(csv_dir) / name)) for name in CSV_FILES if csv_dir]
                         + [("--json", json_path)])
    _check_writable(json_path, "--json")
    _check_writable(csv_dir, "--csv", folder=True)
    m = load_model(model)
    _check_not_an_input(json_path, "--json", _model_inputs(model, m))
    if csv_dir:
        for name in CSV_FILES:  # a trace file among them would be overwritten by a table
            _check_not_an_input(str(Path(csv_dir) / name), "--csv", _model_inputs(model, m))
    if horizon is not None:
        try:
            m = m.with_changes({"run.horizon": horizon})
        except ModelError as exc:  # the file's fields are fine: the option the user just typed is not
            raise click.BadParameter(f"{horizon:g} does not fit the model: {exc} (set by --horizon)",
                                     param_hint="--horizon") from None
    results = _simulate_or_say_how_far(simulate, m, replications, seed, workers)
    if json_path == "-":  # standard output holds the JSON alone: what else is said goes to standard error
        click.echo(json.dumps(results.to_json(), indent=2))
    else:
        _print_results(results)
    if json_path and json_path != "-":
        Path(json_path).write_text(json.dumps(results.to_json(), indent=2))
        click.echo(f"\nwrote {json_path}")
    if csv_dir:
        results.to_csv(csv_dir)
        click.echo(f"wrote CSV tables to {csv_dir}/", err=json_path == "-")


def _simulate_or_say_how_far(simulate, model, replications: int | None, seed: int | None, workers: int):
    """simulate(), but a replication stopped by a run cap also says how many replications had finished."""
    finished = [0]

    def progress(done: int, total: int) -> None:
        finished[0] = done

    try:
        return simulate(model, replications=replications, seed=seed, workers=workers or None, progress=progress)
    except RunLimitError as exc:
        total = model.run.replications if replications is None else replications
        raise RunLimitError(f"{exc}\n  {finished[0]} of {total} replications had finished; none are reported, as "
                            "the capped ones are the busiest and leaving them out would flatter the results") from None


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
def validate(model) -> None:
    """Check MODEL: print its problems, or 'ok' with each department's expected utilisation."""
    from chainsim.load import load_warnings, offered_load
    from chainsim.model import load_model

    m = load_model(model)
    loads = offered_load(m)  # reads arrival traces: a bad one is an error before any "ok"
    warnings = load_warnings(m)
    click.secho(f"ok: {m.name}", fg="green")
    width = _label_width([m.label(d.department) for d in loads])
    click.echo(f"  {'department':<{width}}{'jobs/' + m.time_unit:>14}{'staff':>8}{'expected util.':>16}")
    for d in loads:
        flag = "  OVERLOADED" if d.overloaded else ""
        click.echo(f"  {m.label(d.department):<{width}}{d.arrival_rate:>14.3g}{d.staff:>8.3g}{d.utilisation:>16.0%}{flag}")
    for warning in warnings:
        click.secho(f"warning: {warning}", fg="yellow")


def _print_experiment(results, store: str, warnings: dict[str, list[str]] | None = None,
                      file: str | None = None) -> int:
    """The answer of an experiment: the primary KPI per scenario, vs baseline, per cost; tornado if any.

    Says so when the store holds only part of the experiment (a stopped run); prints the scenarios'
    model warnings, if given. Returns the exit code: EXIT_NO_BASELINE (after saying why) when the
    baseline has no results, so there is nothing to compare with; EXIT_RUN_LIMIT when replications
    failed, as `run` exits on a capped run, since the rows they touch are partial and not ranked.
    """
    import pandas as pd

    d = results.definition
    reps = results.replication_counts()
    fewest, most = (reps.min(), reps.max()) if len(reps) else (0, 0)
    click.secho(f"{results.name}: {len(results.scenarios)} scenarios, {fewest if fewest == most else f'{fewest}-{most}'} "
                f"replications each, seed {d['seed']}, warm-up {d['warmup']:g}"
                + (" (common random numbers)" if d.get("common_random_numbers") else ""), bold=True)
    if d.get("question"):
        click.echo(f"  {d['question']}")
    done, asked = results.completion()
    if done < asked:
        click.secho(f"incomplete: {done} of {asked} replications; continue with "
                    f"`{_resume_command(file or '<the experiment file>', store)}`", fg="yellow")
    for scenario, rows in results.failures.groupby("scenario", sort=False):
        click.secho(f"warning: scenario {scenario!r}: {len(rows)} replication(s) failed: "
                    f"{rows['message'].iloc[0]}", fg="yellow")
    _print_model_warnings(warnings or {})
    _print_short_of_precision(results)
    missing = results.no_results(results.baseline)
    if missing:
        click.secho(f"error: {missing}: the baseline is what the other scenarios are compared with; "
                    "fix that and run again", fg="red", err=True)
        return EXIT_NO_BASELINE
    kpi = results.primary
    s = results.summary([kpi]).set_index("scenario")
    c = results.compare(kpis=[kpi]).set_index("scenario")
    width = _name_width(s.index)
    paired = ("on the same replications (common random numbers)" if d.get("common_random_numbers", True)
              else "on independent replications (common_random_numbers: false)")
    click.echo(f"\n{kpi} ({'lower' if d.get('better', 'lower') == 'lower' else 'higher'} is better; "
               f"difference vs baseline {paired})")
    click.echo(f"  {'scenario':<{width}}{'mean':>9}{'95% CI':>18}{'difference':>12}{'95% CI':>20}{'cost':>10}"
               f"{'per 10k':>9}{'rank':>6}")
    for name, row in s.iterrows():
        line = f"  {_name_cell(name, width)}{_fmt(row['mean']):>9}{_interval(row):>18}"
        if name in c.index:
            r = c.loc[name]
            mark = "*" if r["significant"] else " "
            rank = "-" if pd.isna(r["rank"]) else str(r["rank"])  # a row with failures is not ranked
            line += (f"{_fmt(r['difference']):>11}{mark}{_interval(r):>20}"
                     f"{_fmt(r['cost']):>10}{_fmt(r['improvement_per_cost'] * 10_000):>9}{rank:>6}{_partial(r)}")
        click.echo(line)
    click.echo("  * the interval excludes 0; per 10k = improvement per 10,000 of cost")
    if c["failed"].any():
        click.echo("  - not ranked: replications failed in the scenario or the baseline; its row uses only the "
                   "replications both finished")
    elif c["missing"].any():
        click.echo("  - not ranked: the run stopped before this scenario had all the baseline's replications; "
                   "its row uses only the replications both finished")
    _print_design_points(results)
    _print_other_kpis(results, width)
    tornado = results.sensitivity(kpi)
    if len(tornado):
        click.echo(f"\nSensitivity of {kpi} (one factor at a time, change vs baseline)")
        rows = [(str(t["factor"]), f"at {_fmt(t['low'])}:", _fmt(t["difference_low"]),
                 f"at {_fmt(t['high'])}:", _fmt(t["difference_high"])) for _, t in tornado.iterrows()]
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        for row in rows:  # columns line up whatever the values' widths (at 0.8 / at -15)
            cells = [cell.rjust(w) if i in (2, 4) else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
            click.echo("  " + "  ".join(cells).rstrip())
    return _say_what_failed(results)


def _print_design_points(results) -> None:
    """The factor values of a design's scenarios whose names do not show them (a Latin hypercube's
    lhs-01, lhs-02, ...); `summarise --csv` exports them as factor.<name> columns."""
    points = [(s["name"], s["factors"]) for s in results.scenarios if s.get("factors") and "=" not in s["name"]]
    if points:
        click.echo("\nDesign points:")
    for name, factors in points:
        click.echo(f"  {name}: " + ", ".join(f"{factor}={_fmt(value)}" for factor, value in factors.items()))


def _print_model_warnings(warnings: dict[str, list[str]]) -> None:
    """Each scenario's model warnings (overload, deadlock ...) as `run` prints a model's, each text once
    with the scenarios that have it: a grid's hundred scenarios share the baseline's."""
    having: dict[str, list[str]] = {}
    for scenario, texts in warnings.items():
        for text in texts:
            having.setdefault(text, []).append(scenario)
    for text, scenarios in having.items():
        names = ", ".join(map(repr, scenarios[:3])) + (f" and {len(scenarios) - 3} more" if len(scenarios) > 3 else "")
        click.secho(f"warning: scenario{'s' if len(scenarios) > 1 else ''} {names}: {text}", fg="yellow")


def _print_short_of_precision(results) -> None:
    """A sequential rule that stopped at its max without the precision it asked for says so."""
    rule = results.definition.get("replications")
    for scenario, reached in results.short_of_precision().items():
        click.secho(f"warning: scenario {scenario!r}: the 95% CI of {rule['kpi']} reached ±{reached:.1%} of its mean "
                    f"at max={rule['max']} replications, not the ±{rule['relative_half_width'] * 100:g}% asked: raise "
                    "`max` for that precision", fg="yellow")


def _say_what_failed(results) -> int:
    """EXIT_RUN_LIMIT, after naming the scenarios with failed replications and how many; else 0."""
    failed = results.failures.groupby("scenario", sort=False).size()
    if failed.empty:
        return 0
    finished = results.replication_counts()
    counts = ", ".join(f"{name!r} {n} of {n + finished.get(name, 0)}" for name, n in failed.items())
    click.secho(f"error: replications failed: {counts}. Failed replications are often the busiest (a run cap stops "
                "them), so leaving them out would flatter: the rows they touch use only the replications both the "
                "scenario and the baseline finished, and are not ranked. Fix the cause (the messages above) and run "
                "again into a new --out", fg="red", err=True)
    return EXIT_RUN_LIMIT


def _resume_command(file: str, out: str) -> str:
    return f"chainsim experiment {shlex.quote(file)} --out {shlex.quote(out)} --resume"


def _name_width(names) -> int:
    """Scenario column wide enough for the names a design makes (`staff=2, unclear_share=0.1`), within reason."""
    return max(34, min(71, max((len(str(n)) for n in names), default=0) + 2))  # longer names: see _name_cell


def _name_cell(name, width: int) -> str:
    """A scenario's name padded to the column, or, longer than it, whole on a line of its own with the numbers
    on the next, under the columns: cut, a grid's names over long paths would read alike."""
    name = str(name)
    return f"{name:<{width}}" if len(name) < width else f"{name}\n  {'':<{width}}"


def _print_other_kpis(results, width: int) -> None:
    """The experiment's other KPIs: each scenario's mean and its difference vs baseline, with the CI."""
    others = [k for k in results.definition.get("kpis", []) if k != results.primary]
    if not others:
        return
    table = results.compare(kpis=others)
    means = results.summary(others)
    baseline = means[means["scenario"] == results.baseline].set_index("kpi")["mean"]
    click.echo("\nOther KPIs: each scenario's mean, its difference vs baseline and the difference's 95% CI")
    for kpi, rows in table.groupby("kpi", sort=False):
        click.echo(f"\n{kpi} (baseline {_fmt(baseline.get(kpi, math.nan))})")
        for _, r in rows.iterrows():
            mark = "*" if r["significant"] else " "
            click.echo(f"  {_name_cell(r['scenario'], width)}{_fmt(r['mean']):>9}{_fmt(r['difference']):>12}{mark}"
                       f"{_interval(r):>20}{_partial(r)}")


def _interval(row) -> str:
    """A difference's 95% CI, with a space before it however wide it is (so it never runs into the difference)."""
    return f" [{_fmt(row.ci_low)}, {_fmt(row.ci_high)}]"


def _partial(row) -> str:
    """For a row on fewer replications than the baseline's (failed, or a stopped run): on how many, and the
    baseline's mean on those, since the baseline's own row is over all of its replications."""
    if not (row["failed"] or row["missing"]):
        return ""
    return f"  on {row['n']} replications shared, baseline {_fmt(row['baseline_mean'])} on them"


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--workers", "-w", type=click.IntRange(0), default=0, show_default=True,
              help="Local processes; 0 = all cores, 1 = one after the other in this process.")
@click.option("--dask", "dask_address", metavar="ADDR",
              help="Run on Dask instead: 'local' starts a LocalCluster, or tcp://host:port joins one.")
@click.option("--resume", is_flag=True, help="Continue the experiment in the store; skip what is stored.")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Results store (SQLite file); default: FILE's name with .sqlite, in this folder.")
@click.option("--replications", "-r", type=click.IntRange(1, MAX_REPLICATIONS),
              help="Replications per scenario (default: the file's).")
@click.pass_context
def experiment(ctx, file, workers, dask_address, resume, out, replications) -> None:
    """Run the experiment in FILE: scenarios x replications, each stored as it finishes."""
    from tqdm import tqdm

    from chainsim.experiment import Experiment
    from chainsim.store import StoreError

    if dask_address and ctx.get_parameter_source("workers") != click.core.ParameterSource.DEFAULT:
        raise click.UsageError("give --workers or --dask, not both")
    _check_not_an_input(out, "--out", [file])
    x = Experiment.from_file(file)
    if replications is not None:
        x.replications = replications
    out = out or f"{Path(file).stem}.sqlite"
    bar: list = []

    def progress(done: int, total: int) -> None:
        if not bar:
            bar.append(tqdm(total=total, initial=done, unit="rep", desc=x.name[:30], file=sys.stderr))
        bar[0].total = total
        bar[0].update(done - bar[0].n)

    try:
        x.run(workers=None if workers == 0 else workers, dask=dask_address, store=out, resume=resume,
              progress=progress)
    except KeyboardInterrupt:
        if bar:
            bar[0].close()
        if not Path(out).exists():  # stopped before the store was made (starting a Dask cluster, say)
            click.secho("\nstopped (Ctrl-C) before any replication ran: nothing was stored", fg="yellow", err=True)
            sys.exit(EXIT_INTERRUPTED)
        click.secho(f"\nstopped: finished replications are in {out}; continue with --resume: "
                    f"{_resume_command(file, out)}", fg="yellow", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except WorkerLostError as exc:
        click.secho(f"\nerror: {exc}; finished replications are in {out}; continue with --resume: "
                    f"{_resume_command(file, out)}", fg="red", err=True)
        sys.exit(EXIT_WORKER_LOST)
    except StoreError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_BAD_INPUT)
    finally:
        if bar:
            bar[0].close()
    code = _print_experiment(x.results, out, x.warnings, file)
    click.echo(f"\nresults in {out}; tables: chainsim summarise {out} --csv FILE")
    sys.exit(code)


@main.command()
@click.argument("store", type=click.Path(exists=True, dir_okay=False))
@click.option("--experiment", "-e", "name", help="Only this experiment of the store (default: all).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write the tidy KPI rows to a CSV file.")
@click.option("--parquet", "parquet_path", type=click.Path(dir_okay=False), help="Write them to a parquet file.")
def summarise(store, name, csv_path, parquet_path) -> None:
    """Print the results in an experiment STORE; export its tidy rows to CSV or parquet."""
    from chainsim.experiment import ExperimentResults
    from chainsim.store import ResultStore, StoreError

    _check_not_an_input(csv_path, "--csv", [store])
    _check_not_an_input(parquet_path, "--parquet", [store])
    _check_writable(csv_path, "--csv")  # before the report is printed, not after
    _check_writable(parquet_path, "--parquet")
    _check_outputs_apart([("--csv", csv_path), ("--parquet", parquet_path)])
    try:
        db = ResultStore(store, readonly=True)  # reading must never create or change the file
        with db:
            names = [name] if name else db.experiments()
            if not names:
                raise StoreError(f"{store} holds no results (it has no experiments)")
            codes = []
            for i, experiment_name in enumerate(names):
                if i:
                    click.echo("")
                codes.append(_print_experiment(ExperimentResults.from_store(db, experiment_name), store))
            if csv_path:
                db.export_csv(csv_path, name)
                click.echo(f"\nwrote {csv_path}")
            if parquet_path:
                db.export_parquet(parquet_path, name)
                click.echo(f"\nwrote {parquet_path}")
    except StoreError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_BAD_INPUT)
    sys.exit(max(codes))  # the gravest: no baseline (4) before failed replications (3)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False), default="report.html", show_default=True,
              help="The HTML file to write.")
@click.option("--replications", "-r", type=click.IntRange(1, MAX_REPLICATIONS), help="Replications (default: the file's).")
@click.option("--seed", "-s", type=click.IntRange(0), help="Root seed (default: the file's).")
@click.option("--workers", "-w", type=click.IntRange(0), default=1, show_default=True,
              help="Local processes; 0 = all cores.")
def report(model, out, replications, seed, workers) -> None:
    """Simulate MODEL and write a stand-alone HTML report (the app's charts; opens offline)."""
    from chainsim.api import simulate
    from chainsim.model import load_model
    from chainsim.report import write_report

    _check_writable(out, "--out")
    m = load_model(model)
    _check_not_an_input(out, "--out", _model_inputs(model, m))
    results = _simulate_or_say_how_far(simulate, m, replications, seed, workers)
    path = write_report(out, {"Baseline": results})
    click.echo(f"{results.model.name}: {results.replications} replications in {results.seconds:.1f} s; "
               f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
