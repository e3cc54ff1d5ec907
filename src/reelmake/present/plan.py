"""The plan for people: a storyboard's plan in terraform's shape, a campaign's per variant, and both
as pull-request comments in Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import click

from ..catalog import get_model, money
from ..core.hosts import HostComparison
from ..core.plan import Plan, PlanRow
from ..jobs import JobId

SYMBOLS = {"new": ("+", "green"), "changed": ("~", "yellow"), "cached": ("=", None), "in_flight": ("!", "cyan"),
           "removed": ("-", "red")}


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _takes_label(takes: list[int]) -> str:
    return f"take {takes[0]}" if len(takes) == 1 else "takes " + ", ".join(str(t) for t in takes)


def grouped(rows: Sequence[PlanRow]) -> list[tuple[str, list[PlanRow]]]:
    """Rows by shot and ratio, the takes of one render together, labelled ``lace-up ×3`` (a lone take
    other than the first keeps its id: ``skyline#2``)."""
    groups: dict[str, list[PlanRow]] = {}
    for row in rows:
        base = str(JobId(row.id.shot, aspect=row.id.aspect)) if row.status != "removed" else row.name
        groups.setdefault(base, []).append(row)
    out = []
    for base, members in groups.items():
        label = f"{base} ×{len(members)}" if len(members) > 1 else members[0].name
        out.append((label, members))
    return out


def _why(rows: list[PlanRow]) -> str:
    """What happens to a group of takes, in words: ``new``, ``changed: prompt``, ``take 3 new (forced);
    takes 1, 2 cached``, and which approved take a change supersedes."""
    def one(row: PlanRow) -> str:
        text = {"changed": "changed: " + ", ".join(row.changed), "in_flight": f"in flight (task {row.task_id})",
                "new": "new (forced)" if row.forced else "new",
                "cached": "cached (remote)" if row.where == "remote" else "cached"}.get(row.status, row.status)
        if row.held_by and row.status in ("new", "changed", "in_flight"):
            return f"held until {', '.join(row.held_by)} is approved ({text})"
        if row.waiting_for and row.status == "new":  # a changed row's reasons already name its upstream
            text += f", after {', '.join(row.waiting_for)}"
        return text

    parts: dict[str, list[int]] = {}
    for row in rows:
        parts.setdefault(one(row), []).append(row.take)
    text = one(rows[0]) if len(parts) == 1 else "; ".join(f"{_takes_label(t)} {w}" for w, t in parts.items())
    superseded = sorted({r.supersedes for r in rows if r.supersedes is not None})
    if superseded:
        text += f" — approved take {superseded[0]} will be superseded"
    return text


def _symbol(rows: list[PlanRow]) -> tuple[str, str | None]:
    for status in ("changed", "new", "in_flight", "removed", "cached"):
        if any(r.status == status for r in rows):
            return SYMBOLS[status]
    return SYMBOLS[rows[0].status]


def plan_lines(plan: Plan) -> list[str]:
    """The plan as the terminal shows it: per shot for a storyboard, per variant for a campaign."""
    if plan.campaign.is_campaign:
        return campaign_lines(plan)
    sb = plan.campaign.storyboard
    groups = grouped((*plan.rows, *plan.removed))
    width = max((len(label) for label, _ in groups), default=4)
    model_width = max((len(f"{r.backend}/{r.model}") for _, rows in groups for r in rows), default=10)
    images = f", {len(sb.generated)} generated image{'s' if len(sb.generated) != 1 else ''}" if sb.generated else ""
    lines = [click.style(f"{sb.title}", bold=True) + f"  ({plan.campaign.path.name}, {len(sb.shots)} shots{images})",
             ""]
    for label, rows in groups:
        symbol, colour = _symbol(rows)
        row = rows[0]
        if row.status == "removed":
            detail = "removed from the storyboard (its clip stays in the cache)"
            line = f"  {symbol} {label:<{width}}  {detail}"
        else:
            cost = sum((r.cost for r in rows), Decimal(0))
            length = _seconds(row.duration) if row.kind != "image" else "1 img"
            line = (f"  {symbol} {label:<{width}}  {row.backend + '/' + row.model:<{model_width}}  "
                    f"{length:>6}  {row.aspect_ratio:>4}  {row.mode:<5}  {money(cost):>8}  "
                    f"{_why(rows)}")
        lines.append(click.style(line, fg=colour) if colour else line)
    lines.append("")
    lines.append(summary_line(plan))
    return lines


def summary_line(plan: Plan) -> str:
    counts = {s: sum(1 for r in plan.rows if r.status == s) for s in ("new", "changed", "cached", "in_flight")}
    parts = [f"{len(plan.to_render)} to render ({money(plan.render_cost)})", f"{counts['cached']} cached"]
    if counts["in_flight"]:
        parts.append(f"{counts['in_flight']} in flight")
    if plan.held:
        parts.append(f"{len(plan.held)} held for approval")
    if plan.removed:
        parts.append(f"{len(plan.removed)} removed")
    if plan.gpu_seconds:
        parts.append(f"about {plan.gpu_seconds / 60:.0f} GPU-minutes (estimated)")
    text = "Plan: " + ", ".join(parts) + f". From scratch: {money(plan.total_cost)}."
    if plan.budget is not None:
        verdict = "within budget" if plan.within_budget else click.style("OVER BUDGET", fg="red", bold=True)
        text += f" Budget {money(plan.budget)}: {verdict}."
    return text


def campaign_summary_line(plan: Plan) -> str:
    """One line: renders after de-duplication, their cost, the saving, the budget verdict."""
    renders = f"{len(plan.to_render)} unique render{'' if len(plan.to_render) == 1 else 's'}"
    text = (f"Campaign {plan.campaign.name}: {len(plan.variants)} variants, {renders} "
            f"({money(plan.render_cost)}; {money(plan.cost_without_dedup)} without de-duplication), "
            f"{len(plan.unique_rows) - len(plan.to_render)} cached. "
            f"From scratch: {money(plan.total_cost)}.")
    if plan.budget is not None:
        verdict = "within budget" if plan.render_cost <= plan.budget else "OVER BUDGET"
        text += f" Budget {money(plan.budget)}: {verdict}."
    if plan.over_budget_variants:
        text += f" Over their own storyboard budget: {', '.join(plan.over_budget_variants)}."
    return text


def campaign_lines(plan: Plan) -> list[str]:
    """The campaign's terminal table: one line per variant, then the summary."""
    width = max((len(vp.id) for vp in plan.variants), default=7)
    lines = [f"  {'variant':<{width}}  shots  new  changed  cached  in flight  render cost  from scratch"]
    for vp in plan.variants:
        c = vp.counts()
        lines.append(f"  {vp.id:<{width}}  {len(vp.rows):>5}  {c['new']:>3}  {c['changed']:>7}  "
                     f"{c['cached']:>6}  {c['in_flight']:>9}  {money(vp.render_cost):>11}  "
                     f"{money(vp.total_cost):>12}")
    for vid in plan.removed_variants:
        lines.append(f"  {vid:<{width}}  removed from the campaign (its clips stay in the cache)")
    return [*lines, "", campaign_summary_line(plan)]


def plan_markdown(plan: Plan) -> str:
    """The plan as a pull-request comment: what changes, why, and what it costs."""
    if plan.campaign.is_campaign:
        from .markdown import campaign_markdown

        return campaign_markdown(plan)
    sb = plan.campaign.storyboard
    lines = [f"### reelmake plan: {sb.title}", "", "| | shot | model | duration | mode | cost | why |",
             "|---|---|---|---|---|---|---|"]
    for label, rows in grouped((*plan.rows, *plan.removed)):
        symbol, row = _symbol(rows)[0], rows[0]
        if row.status == "removed":
            lines.append(f"| `{symbol}` | {label} | | | | | removed |")
        else:
            cost = sum((r.cost for r in rows), Decimal(0))
            length = f"{row.duration:g} s" if row.kind != "image" else "1 image"
            lines.append(f"| `{symbol}` | {label} | {row.model} | {length} | {row.mode} | "
                         f"{money(cost)} | {_why(rows)} |")
    lines += ["", click.unstyle(summary_line(plan))]
    return "\n".join(lines)


def host_lines(comparison: HostComparison) -> list[str]:
    """``plan --hosts``: each render's price on every host that offers the models, side by side, then
    what each host would submit now and what it costs from scratch. ``?`` marks an unconfirmed price,
    ``—`` a shot the host cannot render (why is listed below the table)."""
    hosts = comparison.hosts
    current = {str(row.id): row for row in comparison.current.rows}
    names = list(comparison.job_ids)
    width = max((len(n) for n in [*names, "from scratch"]), default=12)
    model_width = max((len(f"{row.model} @{row.backend}") for row in current.values()), default=10)
    col = max(10, *(len(h.host) + 2 for h in hosts)) if hosts else 10
    header = f"  {'shot':<{width}}  {'model @ host now':<{model_width}}" + "".join(f"{h.host:>{col}}" for h in hosts)
    campaign = comparison.current.campaign
    lines = [click.style(f"{campaign.name}: the plan on every host that offers its models", bold=True) +
             f"  ({campaign.path.name})", "", header]
    for name in names:
        row = current[name]
        cells = []
        for host in hosts:
            cost = host.costs().get(name)
            if cost is None:
                cells.append(f"{'—':>{col}}")
                continue
            offer = get_model(row.model, host.host)
            mark = "" if offer is None or offer.price_confirmed else "?"
            cells.append(f"{money(cost) + mark:>{col}}")
        lines.append(f"  {name:<{width}}  {row.model + ' @' + row.backend:<{model_width}}" + "".join(cells))
    lines.append("")
    for label, value in (("to render", lambda h: h.render_cost), ("from scratch", lambda h: h.total_cost)):
        lines.append(f"  {label:<{width}}  {'':<{model_width}}" + "".join(f"{money(value(h)):>{col}}" for h in hosts))
    notes = [f"  {h.host}: {name}: {why}" for h in hosts for name, why in h.reasons.items()]
    if notes:
        lines += ["", "Not available:", *notes]
    if any("?" in line for line in lines[3:len(names) + 3]):
        lines += ["", "? unconfirmed price (see the catalog's sources; `render --price-check` asks WaveSpeed)"]
    lines += ["", "Switch with `host: NAME` in defaults or on a shot; the switched shots render again."]
    return lines
