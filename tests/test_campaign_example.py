"""The example campaign in storyboards/campaign/ validates offline, shares its hero shot, and stays small."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from reelmake.campaign.load import expand_command
from reelmake.engine.loading import is_campaign_file
from reelmake.engine.api import load as load_campaign
from reelmake.media import probe
from tests.planning import plan_of

EXAMPLE = Path(__file__).resolve().parents[1] / "storyboards" / "campaign"
CAMPAIGN = EXAMPLE / "campaign.yaml"
VARIANTS = ["us-15", "us-30", "de-15", "de-30", "jp-15", "jp-30"]


def test_the_example_validates_offline_with_the_animatic_backend():
    campaign = load_campaign(CAMPAIGN, backend="animatic")  # probes the committed media with ffprobe
    assert [v.id for v in campaign.variants] == VARIANTS and not campaign.warnings
    assert {shot.backend for v in campaign.variants for shot in v.storyboard.shots} == {"animatic"}
    plan = plan_of(campaign)
    hero = {vp.rows[0].key for vp in plan.variants}
    assert len(hero) == 1 and plan.sharing[hero.pop()] == VARIANTS
    assert plan.render_cost == Decimal(0)


def test_the_example_plans_its_paid_models_within_budget_and_shares_shots():
    campaign = load_campaign(CAMPAIGN)
    plan = plan_of(campaign)
    # hero once; street and endcard per market; stride and breath once for the 30 s cuts; skyline per market
    assert len(plan.to_render) == 1 + 3 * 2 + 2 + 3
    assert plan.render_cost == Decimal("5.180") and plan.cost_without_dedup == Decimal("12.180")
    assert plan.within_budget and campaign.budget == Decimal(40)


def test_the_example_localizes_captions_and_voice_over_per_market():
    campaign = load_campaign(CAMPAIGN, backend="animatic", check_media=False)
    jp = campaign.variant("jp-30").storyboard
    assert jp.shots[0].caption == "夜明けのために。"
    assert jp.assets["vo"].source == "audio/vo-jp.m4a"
    assert [d.captions for d in jp.deliverables] == ["sidecar", "sidecar"]
    de = campaign.variant("de-15").storyboard
    assert de.shots[0].caption == "Gemacht für das erste Licht." and de.assets["vo"].source == "audio/vo-de.m4a"
    assert "title: Aurora — Berlin (30 s)\n" in expand_command(CAMPAIGN, "de-30")
    assert is_campaign_file(CAMPAIGN) and not is_campaign_file(EXAMPLE / "spot.yaml.j2")


def test_the_example_media_is_small_and_fits_kling():
    files = [p for p in EXAMPLE.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 300_000
    for image in EXAMPLE.glob("refs/*.png"):
        info = probe(image)
        assert min(info.width, info.height) >= 300 and image.stat().st_size < 30_000
    for audio in EXAMPLE.glob("audio/*.m4a"):
        info = probe(audio)
        assert info.audio_codec == "aac" and 1 < info.duration <= 10
    assert CAMPAIGN.read_text().startswith("# yaml-language-server: $schema=../../schemas/campaign.schema.json\n")


def test_the_example_template_writes_every_value_through_the_yaml_filter():
    # A value written raw becomes YAML syntax: a table cell could add keys to the storyboard.
    import re

    expressions = re.findall(r"{{(.*?)}}", (EXAMPLE / "spot.yaml.j2").read_text())
    assert expressions and all(e.strip().endswith("| yaml") for e in expressions), expressions
