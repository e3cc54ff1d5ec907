"""Exact pricing (SPEC §4), compiling shots for Kling O3 (SPEC §3) and render keys."""

from __future__ import annotations

from decimal import Decimal

import pytest

from reelmake.catalog import get_model, money, money_json, price
from reelmake.backends.local_wan.settings import num_frames_for as frames_for
from reelmake.engine.api import load, plan
from reelmake.fsutil import sha256_file
from tests.planning import jobs_of

SPEC_TABLE = {
    "base": {3: "0.252", 5: "0.420", 10: "0.840", 15: "1.260"},
    "sound": {3: "0.336", 5: "0.560", 10: "1.120", 15: "1.680"},
    "video": {3: "0.378", 5: "0.630", 10: "1.260", 15: "1.890"},
}


@pytest.mark.parametrize("mode", SPEC_TABLE)
@pytest.mark.parametrize("seconds", [3, 5, 10, 15])
def test_kling_o3_standard_prices_match_the_spec_table_exactly(mode, seconds):
    cost = price(get_model("kling-video-o3-std"), mode, seconds)
    assert isinstance(cost, Decimal)
    assert cost == Decimal(SPEC_TABLE[mode][seconds])
    assert money_json(cost) == SPEC_TABLE[mode][seconds]


def test_pro_rates_are_confirmed_except_the_reference_video_rate():
    pro = get_model("kling-video-o3-pro")
    assert pro.rates == {"base": Decimal("0.112"), "sound": Decimal("0.140"), "video": Decimal("0.168")}
    assert pro.rate_confirmed("base") and pro.rate_confirmed("sound") and not pro.rate_confirmed("video")
    assert not pro.price_confirmed and get_model("kling-video-o3-std").price_confirmed
    assert "kling-video-o3-pro" in pro.price_source and "other hosts" in pro.price_source


def test_display_rounds_to_the_cent_but_json_stays_exact():
    assert money(Decimal("0.252")) == "$0.25" and money_json(Decimal("0.252")) == "0.252"


def spot(project, shots: str, extra: str = ""):
    return project.write(f"""
reelmake: 1
title: Spot
style: "35mm film, soft dawn light"
defaults: {{backend: wavespeed, duration: 5}}
characters:
  maya: {{description: runner, images: [refs/a.png, refs/b.png]}}
  leo: {{images: [refs/n0.png]}}
assets:
  sneaker: {{image: refs/c.png, description: "white high-top, orange sole"}}
  dance: {{video: refs/dance.mp4}}
shots:
{shots}
{extra}""")


def test_a_mixed_storyboard_totals_exactly(project):
    path = spot(project, """
  - {id: a, prompt: "@maya runs", duration: 3}
  - {id: b, prompt: "@maya sings", duration: 5, sound: true}
  - {id: c, prompt: "@maya dances", duration: 10, video: dance}
  - {id: d, prompt: "@maya rests", duration: 15, model: kling-video-o3-pro, sound: true}
""")
    result = plan(path, cache_dir=project.root / "cache")
    # 0.252 + 0.560 + 1.260 + 15 × 0.140
    assert result.total_cost == Decimal("4.172") == result.render_cost
    assert [r.mode for r in result.rows] == ["base", "sound", "video", "sound"]


def request_of(path, shot_id="a"):
    sb = load(path).storyboard
    return next(j for j in jobs_of(sb) if j.shot_id == shot_id)


def test_mentions_become_figures_in_first_mention_order(project):
    path = spot(project, '  - {id: a, prompt: "@sneaker by @maya; then @leo hands @maya the @sneaker"}')
    job = request_of(path)
    # sneaker → Figure 1; maya (two images) → Figures 2 and 3; leo → Figure 4
    assert job.request["prompt"] == ("Figure 1 by Figures 2 and 3; then Figure 4 hands Figures 2 and 3 the Figure 1. "
                                     "35mm film, soft dawn light")
    hashes = [sha256_file(project.root / "refs" / n) for n in ("c.png", "a.png", "b.png", "n0.png")]
    assert job.request["images"] == [f"sha256:{h}" for h in hashes]


def test_three_images_read_as_figures_n_m_and_k(project):
    path = project.write("""
reelmake: 1
title: Spot
defaults: {backend: wavespeed}
characters:
  trio: {images: [refs/a.png, refs/b.png, refs/c.png]}
shots:
  - {id: a, prompt: "@trio waves"}
""")
    assert request_of(path).request["prompt"] == "Figures 1, 2 and 3 waves"


def test_double_at_is_a_literal_at_and_refs_come_last(project):
    path = spot(project, '  - {id: a, prompt: "@leo emails hi@@example.com", refs: [sneaker, leo]}')
    job = request_of(path)
    assert job.request["prompt"].startswith("Figure 1 emails hi@example.com")
    assert job.files[job.request["images"][1].removeprefix("sha256:")].name == "sneaker"
    assert len(job.request["images"]) == 2


def test_multi_prompt_and_video_fields_are_sent(project):
    path = spot(project, """
  - id: a
    prompt: "@maya leaps"
    video: dance
    keep_original_sound: false
    duration: 6
    multi_prompt: [{prompt: "@maya runs", duration: 3}, {prompt: "@leo jumps", duration: 3}]
""")
    request = request_of(path).request
    assert request["multi_prompt"] == [
        {"prompt": "Figures 1 and 2 runs. 35mm film, soft dawn light", "duration": 3},
        {"prompt": "Figure 3 jumps. 35mm film, soft dawn light", "duration": 3},
    ]
    assert request["video"].startswith("sha256:") and request["keep_original_sound"] is False
    assert set(request) == {"prompt", "images", "sound", "aspect_ratio", "duration", "shot_type", "video",
                            "keep_original_sound", "multi_prompt"}
    assert request["duration"] == 6 and isinstance(request["duration"], int)


def test_wan_prompts_get_descriptions_once_and_frames_are_4k_plus_1(project):
    path = spot(project, '  - {id: a, prompt: "@maya runs; @maya stops", backend: local}')
    request = request_of(path).request
    assert request["prompt"] == "maya (runner) runs; maya stops. 35mm film, soft dawn light"
    assert request["num_frames"] == 81 and frames_for(3, 16) == 49 and (frames_for(7.3, 16) - 1) % 4 == 0


def keys(path):
    return {j.shot_id: j.key for j in jobs_of(load(path).storyboard)}


def test_same_content_under_another_path_gives_the_same_key(project):
    path = spot(project, '  - {id: a, prompt: "@sneaker"}')
    before = keys(path)
    (project.root / "refs" / "c.png").rename(project.root / "refs" / "renamed.png")
    path.write_text(path.read_text().replace("refs/c.png", "refs/renamed.png"))
    assert keys(path) == before


def test_one_changed_byte_in_a_reference_changes_the_key(project):
    path = spot(project, '  - {id: a, prompt: "@sneaker"}\n  - {id: b, prompt: "@leo"}')
    before = keys(path)
    image = project.root / "refs" / "c.png"
    data = bytearray(image.read_bytes())
    data[-5] ^= 0xFF
    image.write_bytes(bytes(data))
    after = keys(path)
    assert after["a"] != before["a"] and after["b"] == before["b"]


def test_edit_time_fields_do_not_change_keys(project):
    base = '  - {id: a, prompt: "@sneaker"}\n  - {id: b, prompt: "@leo"'
    path = spot(project, base + "}")
    before = keys(path)
    path = spot(project, base + ', caption: "Hi", trim: [1, 4], transition: {type: fade, duration: 0.5}}',
                extra="soundtrack: []\nmix: {loudness: -16}\n")
    assert keys(path) == before


def test_mtime_changes_do_not_change_keys(project):
    import os

    path = spot(project, '  - {id: a, prompt: "@sneaker"}')
    before = keys(path)
    os.utime(project.root / "refs" / "c.png", (1, 1))
    assert keys(path) == before


def test_native_ratio_deliverables_add_priced_renders(project):
    path = spot(project, '  - {id: a, prompt: "@maya runs"}', extra="""
deliverables:
  - {name: master}
  - {name: vertical, aspect_ratio: "9:16", reframe: render}
""")
    result = plan(path, cache_dir=project.root / "cache")
    assert [r.name for r in result.rows] == ["a", "a@9:16"]
    assert result.render_cost == Decimal("0.840")


def test_local_plans_show_an_estimated_gpu_time(project):
    path = spot(project, '  - {id: a, prompt: "@maya runs", backend: local}')
    result = plan(path, cache_dir=project.root / "cache")
    assert result.rows[0].gpu_seconds == 45 * 5 and result.rows[0].to_json()["gpu_seconds"] == 225
