"""Planning a campaign: equal render keys across variants are one render; costs, budget and the PR summary."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from reelmake.core.plan import Plan as CampaignPlan
from reelmake.engine.lock import LockFile
from reelmake.engine.api import load as load_campaign
from reelmake.present.plan import campaign_summary_line, plan_markdown
from tests.planning import plan_of, sections
from tests.test_campaign import make

TEMPLATE = """\
reelmake: 1
title: Aurora {{ market }} {{ length }}
defaults: {backend: wavespeed, model: kling-video-o3-std, duration: 5}
shots:
  - id: hero
    prompt: A runner laces up a white sneaker on a rooftop at dawn
    sound: true
    caption: {{ tagline | yaml }}
  - id: street
    prompt: {{ ("A runner crosses a street in " ~ city) | yaml }}
{%- if length >= 30 %}
  - id: skyline
    prompt: Aerial view of a city at sunrise
    duration: 10
{%- endif %}
"""

CAMPAIGN = """\
reelmake: 1
campaign: spring
template: spot.yaml.j2
vars: {brand: Aurora}
variants:
  name: "{{ market }}-{{ length }}"
  table: variants.csv
budget: 5
"""

CSV = """\
market,length,city,tagline
us,15,New York,Made for first light.
us,30,New York,Made for first light.
de,15,Berlin,Gemacht für das erste Licht.
de,30,Berlin,Gemacht für das erste Licht.
jp,15,Tokyo,夜明けのために。
"""


def campaign_at(directory: Path, csv: str = CSV, campaign: str = CAMPAIGN):
    return load_campaign(make(directory, campaign, TEMPLATE, variants_dot_csv=csv))


plan = plan_of


def rendered_lock(cp: CampaignPlan) -> dict:
    """The campaign lock's entries (backend → job id → entry) after rendering everything the plan lists."""
    lock = LockFile(Path("unused.lock"))
    return sections({str(row.id): lock.entry_for(row.job, clip_sha256="0" * 64, task_id=None)
                     for vp in cp.variants for row in vp.rows})


def keys_in(lock: dict) -> set[str]:
    return {entry["key"] for jobs in lock.values() for entry in jobs.values()}


def test_a_shot_identical_in_every_variant_is_rendered_once(tmp_path):
    cp = plan(campaign_at(tmp_path))
    heroes = {vp.id: vp.rows[0] for vp in cp.variants}
    assert len({row.key for row in heroes.values()}) == 1  # captions are edit-time: not in the key
    assert cp.sharing[heroes["us-15"].key] == ["us-15", "us-30", "de-15", "de-30", "jp-15"]
    # hero once + street per market (3) + skyline once (same prompt in us-30 and de-30)
    assert len(cp.to_render) == 5
    assert cp.render_cost == Decimal("0.560") + 3 * Decimal("0.420") + Decimal("0.840")
    per_variant = {vp.id: vp.render_cost for vp in cp.variants}
    assert per_variant == {"us-15": Decimal("0.980"), "us-30": Decimal("1.820"), "de-15": Decimal("0.980"),
                           "de-30": Decimal("1.820"), "jp-15": Decimal("0.980")}
    assert cp.cost_without_dedup == sum(per_variant.values())
    assert cp.total_cost == cp.render_cost


def test_changing_one_markets_line_changes_only_that_markets_keys(tmp_path):
    before = plan(campaign_at(tmp_path / "a"))
    after = plan(campaign_at(tmp_path / "b", CSV.replace("Berlin", "Hamburg")))

    def keys(cp):
        return {(vp.id, row.name): row.key for vp in cp.variants for row in vp.rows}

    old, new = keys(before), keys(after)
    assert {shot for shot in old if old[shot] != new[shot]} == {("de-15", "street"), ("de-30", "street")}


def test_a_changed_reference_file_changes_only_the_variants_that_use_it(tmp_path):
    template = TEMPLATE.replace("  - id: street\n", "  - id: pack\n    prompt: The @box on a ledge\n  - id: street\n")
    template = template.replace("shots:\n", "assets:\n  box: {image: 'refs/pack-{{ market }}.png'}\nshots:\n")
    directory = tmp_path / "c"
    make(directory, CAMPAIGN, template, variants_dot_csv=CSV)
    for market in ("us", "de", "jp"):
        (directory / "refs").mkdir(exist_ok=True)
        (directory / "refs" / f"pack-{market}.png").write_bytes(b"not probed: check_media=False " + market.encode())
    keys = {(vp.id, r.name): r.key for vp in plan(load_campaign(directory / "campaign.yaml", check_media=False)).variants
            for r in vp.rows}
    (directory / "refs" / "pack-jp.png").write_bytes(b"a new Japanese box")
    again = {(vp.id, r.name): r.key for vp in plan(load_campaign(directory / "campaign.yaml", check_media=False)).variants
             for r in vp.rows}
    assert {k for k in keys if keys[k] != again[k]} == {("jp-15", "pack")}


def test_cached_clips_are_not_rendered_again(tmp_path):
    campaign = campaign_at(tmp_path)
    first = plan(campaign)
    everything = {row.key for row in first.to_render}
    done = plan(campaign, cached=everything)
    assert (done.to_render, done.render_cost, done.pending) == ([], Decimal(0), False)
    assert done.total_cost == first.total_cost
    hero = first.variants[0].rows[0].key
    partial = plan(campaign, cached=everything - {hero})
    assert [r.name for r in partial.to_render] == ["hero"] and partial.render_cost == Decimal("0.560")


def test_the_campaign_budget_caps_the_deduplicated_cost(tmp_path):
    within = plan(campaign_at(tmp_path / "a"))  # $2.66 of renders, $6.58 without sharing, budget $5
    assert within.render_cost < Decimal(5) < within.cost_without_dedup
    assert within.within_budget
    over = plan(campaign_at(tmp_path / "b", campaign=CAMPAIGN.replace("budget: 5", "budget: 2")))
    assert not over.within_budget
    data = over.to_json()
    assert (data["budget"], data["render_cost"], data["within_budget"]) == ("2.000", "2.660", False)
    assert "Budget $2.00: OVER BUDGET." in campaign_summary_line(over)
    assert "❌ **over by $0.66**" in plan_markdown(over)


def test_a_variant_over_its_own_storyboard_budget_fails_the_verdict(tmp_path):
    template_budget = CAMPAIGN.replace("budget: 5", "budget: 100")
    directory = tmp_path / "c"
    make(directory, template_budget, TEMPLATE.replace("title:", "budget: {{ 1 if length >= 30 else 10 }}\ntitle:"),
         variants_dot_csv=CSV)
    cp = plan(load_campaign(directory / "campaign.yaml"))
    assert cp.over_budget_variants == ["us-30", "de-30"] and not cp.within_budget


def test_plan_json_has_the_fields_of_the_spec(tmp_path):
    cp = plan(campaign_at(tmp_path))
    data = json.loads(json.dumps(cp.to_json()))
    assert {"campaign", "variants", "unique_renders", "render_cost", "cost_without_dedup", "budget"} <= set(data)
    assert (data["campaign"], data["unique_renders"], data["render_cost"], data["cost_without_dedup"]) == \
        ("spring", 5, "2.660", "6.580")
    us30 = data["variants"][1]
    assert {"id", "shots", "render_cost", "total_cost"} <= set(us30)
    assert (us30["id"], us30["render_cost"], us30["total_cost"]) == ("us-30", "1.820", "1.820")
    assert us30["vars"] == {"brand": "Aurora", "market": "us", "length": 30, "city": "New York",
                            "tagline": "Made for first light."}
    hero = us30["shots"][0]
    assert {"id", "backend", "model", "duration", "mode", "cost", "status", "changed", "key"} <= set(hero)
    assert (hero["id"], hero["mode"], hero["cost"], hero["status"], hero["shared_by"]) == \
        ("hero", "sound", "0.560", "new", 5)


def test_markdown_summary_of_a_small_change_names_the_affected_variants_and_the_cost_delta(tmp_path):
    first = plan(campaign_at(tmp_path / "a"))
    lock = rendered_lock(first)
    cached = keys_in(lock)
    changed = plan(campaign_at(tmp_path / "b", CSV.replace("Berlin", "Hamburg")), cached=cached, lock=lock)
    street = changed.variant_plan("de-15").rows[1]
    assert (street.status, street.changed) == ("changed", ("prompt",))
    text = plan_markdown(changed)
    assert "### reelmake plan · campaign `spring`" in text
    assert ("**2 of 5 variants affected** · **1 render** to submit: **$0.42** ($0.84 without de-duplication) · "
            "budget $5.00: ✅ within.") in text
    assert "| `de-15` | 2 | 0 | 1 | 1 | $0.42 | $0.98 |" in text
    assert "| `de-30` | 3 | 0 | 1 | 2 | $0.42 | $1.82 |" in text
    assert "`us-15`" not in text.split("Unchanged:")[0]
    assert "Unchanged: us-15, us-30, jp-15." in text
    assert "| ~ | `street` | prompt | de-15, de-30 | kling-video-o3-std · 5 s · base | $0.42 |" in text
    # The new street replaces the old one: the from-scratch total is unchanged.
    assert "From-scratch cost of the campaign: $2.66 (unchanged against the lock)." in text


def test_markdown_reports_removed_shots_variants_and_a_cost_delta(tmp_path):
    first = plan(campaign_at(tmp_path / "a"))
    lock = rendered_lock(first)
    cached = keys_in(lock)
    directory = tmp_path / "b"
    make(directory, CAMPAIGN, TEMPLATE.replace("{%- if length >= 30 %}", "{%- if length >= 30 and market == 'us' %}"),
         variants_dot_csv=CSV.replace("jp,15,Tokyo,夜明けのために。\n", ""))
    later = plan(load_campaign(directory / "campaign.yaml"), cached=cached, lock=lock)
    assert later.removed_variants == ("jp-15",)
    text = plan_markdown(later)
    assert "**1 of 4 variants affected** · nothing to render: all 4 clips are cached" in text
    assert "| `de-30` | 2 (−1 removed) | 0 | 0 | 2 | $0.00 | $0.98 |" in text
    assert "| - | `skyline` | removed | de-30 | | |" in text
    assert "Removed variants: jp-15 (their clips stay in the cache)." in text
    assert "From-scratch cost of the campaign: $2.66 → $2.24 (−$0.42 against the lock)." in text


def test_nothing_to_render_says_so(tmp_path):
    first = plan(campaign_at(tmp_path))
    lock = rendered_lock(first)
    again = plan(campaign_at(tmp_path), cached=keys_in(lock), lock=lock)
    assert not again.pending and not again.affected
    assert "**0 of 5 variants affected** · nothing to render: all 5 clips are cached" in plan_markdown(again)


def test_force_adds_a_new_take_of_a_shot_in_every_variant_or_in_one(tmp_path):
    campaign = campaign_at(tmp_path)
    first = plan(campaign)
    lock = rendered_lock(first)
    cached = keys_in(lock)
    everywhere = plan(campaign, cached=cached, lock=lock, force=["street"])
    assert sorted(r.name for r in everywhere.to_render) == ["street#2", "street#2", "street#2"]
    assert all(r.forced and r.status == "new" for r in everywhere.to_render)
    one = plan(campaign, cached=cached, lock=lock, force=["de-30/street"])
    assert [(vp.id, r.name) for vp in one.variants for r in vp.to_render] == [("de-30", "street#2")]


def test_a_variant_reads_only_its_own_lock_entries(tmp_path):
    campaign = campaign_at(tmp_path)
    entries = sections({"us-15/gone": {"key": "a", "backend": "wavespeed"},
                        "us-150/hero": {"key": "c", "backend": "wavespeed"}})
    cp = plan(campaign, lock=entries)
    assert [r.name for r in cp.variant_plan("us-15").removed] == ["gone"]  # not us-150's hero


@pytest.mark.parametrize("selection", [["de-*"]])
def test_a_selection_does_not_report_other_variants_as_removed(tmp_path, selection):
    full = plan(campaign_at(tmp_path))
    lock = rendered_lock(full)
    some = plan(load_campaign(tmp_path / "campaign.yaml", variants=selection), cached=lambda k: True, lock=lock)
    assert [vp.id for vp in some.variants] == ["de-15", "de-30"] and some.removed_variants == ()
    assert some.previous_total == some.total_cost  # the delta compares the selected variants only
