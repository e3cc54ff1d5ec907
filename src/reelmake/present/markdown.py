"""A campaign plan as a pull-request comment: what changed against the lock, which variants, what it costs.

GitHub-flavoured Markdown; affected variants only (a 200-variant campaign with one changed market
stays readable), each render listed once with every variant that shares it.
"""

from __future__ import annotations

from ..catalog import money
from ..core.plan import Plan as CampaignPlan

_SYMBOLS = {"new": "+", "changed": "~", "in_flight": "!", "removed": "-"}
_LIST_AT_MOST = 8


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:_LIST_AT_MOST])
    return shown + (f" and {len(ids) - _LIST_AT_MOST} more" if len(ids) > _LIST_AT_MOST else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _signed(amount) -> str:
    return ("+" if amount >= 0 else "−") + money(abs(amount))


def _headline(cp: CampaignPlan) -> list[str]:
    affected = cp.affected
    parts = [f"**{len(affected)} of {len(cp.variants)} variants affected**"]
    if cp.to_render:
        parts.append(f"**{len(cp.to_render)} render{'s' if len(cp.to_render) != 1 else ''}** to submit: "
                     f"**{money(cp.render_cost)}** ({money(cp.cost_without_dedup)} without de-duplication)")
    else:
        parts.append(f"nothing to render: all {len(cp.unique_rows)} clips are cached")
    if cp.budget is not None:
        over = cp.render_cost - cp.budget
        verdict = "✅ within" if over <= 0 else f"❌ **over by {money(over)}**"
        parts.append(f"budget {money(cp.budget)}: {verdict}")
    lines = [f"### reelmake plan · campaign `{cp.campaign.name}`", "", " · ".join(parts) + "."]
    if cp.over_budget_variants:
        lines += ["", f"❌ Over their own storyboard budget: {_ids(cp.over_budget_variants)}."]
    return lines


def _variant_table(cp: CampaignPlan) -> list[str]:
    affected = cp.affected
    if not affected:
        return []
    lines = ["", "| variant | shots | new | changed | cached | render cost | from scratch |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for vp in affected:
        c = vp.counts()
        removed = f" (−{len(vp.removed)} removed)" if vp.removed else ""
        lines.append(f"| `{vp.id}` | {len(vp.rows)}{removed} | {c['new']} | {c['changed']} | {c['cached']} | "
                     f"{money(vp.render_cost)} | {money(vp.total_cost)} |")
    unchanged = [vp.id for vp in cp.variants if not vp.affected]
    if unchanged:
        lines += ["", f"Unchanged: {_ids(unchanged)}."]
    return lines


def _render_table(cp: CampaignPlan) -> list[str]:
    """Each pending render once, why it is pending, and the variants that share the clip."""
    reasons_by_key: dict[str, dict[str, tuple[str, ...]]] = {}
    for vp in cp.variants:
        for r in vp.rows:
            reasons = reasons_by_key.setdefault(r.key, {})
            if r.status == "changed":
                # Variants may see different reasons (their locks differ): show them all, once.
                reasons["changed"] = tuple(dict.fromkeys((*reasons.get("changed", ()), *r.changed)))
            else:
                reasons.setdefault(r.status, ())
    rows = []
    for row in cp.to_render:
        variants = cp.sharing[row.key]
        reasons = reasons_by_key[row.key]
        status = "changed" if "changed" in reasons else row.status
        why = ", ".join(reasons.get("changed", ())) if status == "changed" else status
        rows.append(f"| {_SYMBOLS.get(status, '?')} | `{row.name}` | {_cell(why)} | {_ids(variants)} | "
                    f"{row.model} · {row.duration:g} s · {row.mode} | {money(row.cost)} |")
    removed = [(vp.id, r) for vp in cp.variants for r in vp.removed]
    for vid, row in removed:
        rows.append(f"| - | `{row.name}` | removed | {vid} | | |")
    if not rows:
        return []
    return ["", f"<details{' open' if len(rows) <= 12 else ''}><summary>Renders and removals ({len(rows)})"
                "</summary>", "",
            "| | shot | why | variants | model | cost |", "| --- | --- | --- | --- | --- | ---: |", *rows,
            "", "</details>"]


def campaign_markdown(cp: CampaignPlan) -> str:
    lines = _headline(cp) + _variant_table(cp) + _render_table(cp)
    if cp.removed_variants:
        lines += ["", f"Removed variants: {_ids(list(cp.removed_variants))} (their clips stay in the cache)."]
    total = f"From-scratch cost of the campaign: {money(cp.total_cost)}"
    if cp.previous_total == cp.total_cost:
        total += " (unchanged against the lock)"
    elif cp.previous_total is not None:
        total = (f"From-scratch cost of the campaign: {money(cp.previous_total)} → {money(cp.total_cost)} "
                 f"({_signed(cp.total_cost - cp.previous_total)} against the lock)")
    else:
        total += " (no lock yet to compare with)"
    lines += ["", total + "."]
    return "\n".join(lines) + "\n"
