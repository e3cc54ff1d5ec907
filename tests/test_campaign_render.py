"""Rendering a campaign offline with the animatic backend: shared clips rendered once, one lock, every variant cut."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml

from reelmake.engine.api import render

from reelmake.engine.project import Project
from reelmake.media import probe
from tests.test_campaign import make

TEMPLATE = """\
reelmake: 1
title: Spot {{ market }}
defaults: {backend: animatic, duration: 1}
shots:
  - id: hero
    prompt: A runner on a rooftop at dawn
    caption: {{ tagline | yaml }}
  - id: street
    prompt: {{ ("A street in " ~ city) | yaml }}
deliverables:
  - {name: master, size: 320x180, fps: 12}
"""

CAMPAIGN = """\
reelmake: 1
campaign: tiny
template: spot.yaml.j2
vars: {tagline: First light}
variants:
  name: "{{ market }}"
  matrix: {market: [us, de]}
  include: [{market: us, city: Boston}, {market: de, city: Berlin}]
"""


@pytest.mark.slow
def test_a_campaign_renders_shared_clips_once_and_cuts_every_variant(tmp_path):
    path = make(tmp_path / "c", CAMPAIGN, TEMPLATE)
    kwargs = {"cache_dir": tmp_path / "cache", "out": tmp_path / "out"}
    first = render(path, **kwargs)
    assert first.ok, first.to_json()
    data = first.to_json()
    assert sorted(data["rendered"]) == ["de/hero", "de/street", "us/hero", "us/street"]
    assert len([o for o in first.result.outcomes if o.status == "rendered"]) == 3  # hero once for both
    for variant in ("us", "de"):
        master = tmp_path / "out" / variant / "master.mp4"
        assert data["outputs"][variant]["master"] == str(master)
        info = probe(master)
        assert (info.width, info.height) == (320, 180) and info.duration == pytest.approx(2, abs=0.1)
    lock = yaml.safe_load((tmp_path / "c" / "campaign.lock").read_text())["renders"]["animatic"]
    assert sorted(lock) == ["de/hero", "de/street", "us/hero", "us/street"]
    assert lock["de/hero"]["key"] == lock["us/hero"]["key"] != lock["us/street"]["key"]

    again = render(path, cut=False, **kwargs)
    assert again.ok and again.result.outcomes == [] and again.to_json()["spent"] == "0.000"
    assert again.plan.to_render == [] and not again.plan.pending


def test_the_campaign_budget_caps_what_a_run_submits_counting_shared_clips_once(tmp_path):
    path = make(tmp_path / "c", CAMPAIGN + "budget: 1\n",
                TEMPLATE.replace("backend: animatic, duration: 1", "backend: wavespeed, duration: 5"))
    project = Project.open(path, cache_dir=tmp_path / "cache")
    cp = project.plan()
    jobs = cp.jobs()
    assert [j.shot_id for j in jobs] == ["us/hero", "us/street", "de/hero", "de/street"]
    assert Project.fresh_cost(cp, jobs) == Decimal("1.260")  # hero counted once
    assert project.budget(None).cap == Decimal(1)
    assert project.budget(Decimal("0.5")).cap == Decimal("0.5")
    assert [j.shot_id for j in cp.jobs(["de/street", "hero"])] == ["us/hero", "de/hero", "de/street"]
