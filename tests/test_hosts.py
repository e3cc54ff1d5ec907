"""Model ≠ host (issue 15): one model sold by several hosts, picked with ``host:``; prices side by side;
each host's request format. Pure planning and compiling: no server here."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from reelmake.catalog import get_model, hosts_for, load_offers
from reelmake.cli import main
from reelmake.engine.loading import load
from reelmake.errors import ValidationError
from tests.planning import jobs_of, plan_of

REFS = """
characters:
  maya: {description: young woman, images: [refs/a.png, refs/b.png]}
assets:
  sneaker: {image: refs/c.png}
  dance: {video: refs/dance.mp4}
"""


def storyboard(project, shots: str, defaults: str = "{model: kling-video-o3-std, duration: 4}"):
    return project.write(f"reelmake: 1\ntitle: Hosts\ndefaults: {defaults}\n{REFS}\nshots:\n{shots}")


def loaded(path):
    return load(path).campaign


def test_kling_o3_is_offered_by_wavespeed_fal_and_kling_with_a_source_for_every_price():
    for model_id in ("kling-video-o3-std", "kling-video-o3-pro"):
        assert hosts_for(model_id) == ["wavespeed", "fal", "kling"]
    assert hosts_for("kling-video-o3-4k") == ["fal"]
    for offers in load_offers().values():
        for offer in offers.values():
            assert offer.price_source, f"{offer.id}@{offer.backend} has no price source"


def test_an_existing_storyboard_keeps_its_backend_and_its_render_keys(project):
    old = storyboard(project, '  - {id: one, prompt: "@maya runs"}', "{backend: wavespeed, model: kling-video-o3-std}")
    (job,) = jobs_of(loaded(old).storyboard)
    project.write(old.read_text().replace("backend: wavespeed", "host: wavespeed"), "new.yaml")
    (same,) = jobs_of(loaded(project.root / "new.yaml").storyboard)
    assert job.backend == "wavespeed" and job.key == same.key
    assert job.endpoint == "kwaivgi/kling-video-o3-std/reference-to-video"


def test_a_model_without_a_host_runs_on_its_first_host(project):
    path = storyboard(project, '  - {id: one, prompt: "@maya runs"}')
    assert loaded(path).storyboard.shots[0].backend == "wavespeed"


def test_switching_host_changes_the_key_and_the_plan_says_host_changed(project):
    path = storyboard(project, '  - {id: one, prompt: "@maya runs"}\n  - {id: two, prompt: "@maya jumps"}')
    before = plan_of(loaded(path))
    lock = {"wavespeed": {r.name: {"key": r.key, "backend": r.backend, "model": r.model,
                                   "request": dict(r.job.request)} for r in before.rows}}
    path.write_text(path.read_text().replace('{id: two, prompt: "@maya jumps"}',
                                             '{id: two, prompt: "@maya jumps", host: fal}'))
    after = plan_of(loaded(path), cached={r.key for r in before.rows}, lock=lock)
    rows = {r.name: r for r in after.rows}
    assert rows["one"].status == "cached"
    assert rows["two"].status == "changed" and rows["two"].changed == ("host changed (wavespeed → fal)",)
    assert rows["two"].key != lock["wavespeed"]["two"]["key"] and rows["two"].backend == "fal"


def test_a_host_that_lacks_the_model_is_an_error_naming_the_hosts_that_have_it(project):
    path = storyboard(project, '  - {id: one, prompt: "@maya runs", model: kling-video-o3-4k, host: kling}')
    with pytest.raises(ValidationError) as caught:
        load(path)
    (problem,) = caught.value.errors
    assert "kling does not offer kling-video-o3-4k; hosts that have it: fal" in problem.message
    assert problem.line == project.line_of(path, "host: kling")


def test_host_and_backend_together_are_refused(project):
    path = storyboard(project, '  - {id: one, prompt: "@maya runs", host: fal, backend: wavespeed}')
    with pytest.raises(ValidationError) as caught:
        load(path)
    assert any("either `host` or `backend`" in p.message for p in caught.value.errors)


@pytest.mark.parametrize(("host", "shot", "fragment"), [
    ("kling", '{id: one, prompt: "@maya runs", video: dance, duration: 12}', "at most 10 s with a reference video"),
    ("kling", '{id: one, prompt: "@maya runs", video: dance, duration: 5}', "only as an https:// URL"),
    ("fal", '{id: one, prompt: "@maya", video: dance, duration: 4, multi_prompt: [{prompt: a, duration: 2}, '
            '{prompt: b, duration: 2}]}', "without multi_prompt"),
], ids=["kling-10s-with-video", "kling-local-video", "fal-video-and-segments"])
def test_host_limits_are_checked_before_anything_is_spent(project, host, shot, fragment):
    path = storyboard(project, f"  - {shot}", f"{{model: kling-video-o3-std, host: {host}}}")
    with pytest.raises(ValidationError) as caught:
        load(path)
    assert any(fragment in p.message for p in caught.value.errors), caught.value


def test_veo_needs_one_to_three_images_and_eight_seconds(project):
    path = storyboard(project, '  - {id: one, prompt: "a skyline"}', "{model: veo-3.1-fast-reference, duration: 5}")
    with pytest.raises(ValidationError) as caught:
        load(path)
    messages = " ".join(p.message for p in caught.value.errors)
    assert "at least 1 reference image" in messages and "from 8 to 8 s" in messages


def test_fal_compiles_characters_to_elements_and_images_to_image_urls(project):
    path = storyboard(project, '  - {id: one, prompt: "@maya laces up @sneaker", sound: true, host: fal}')
    (job,) = jobs_of(loaded(path).storyboard)
    body = job.request
    assert job.endpoint == "fal-ai/kling-video/o3/standard/reference-to-video"
    assert body["prompt"] == "@Element1 laces up @Image1"
    (element,) = body["elements"]
    assert element["frontal_image_url"].startswith("sha256:") and len(element["reference_image_urls"]) == 1
    assert len(body["image_urls"]) == 1 and body["generate_audio"] is True and body["duration"] == "4"


def test_fal_sends_a_reference_video_to_its_video_to_video_route(project):
    path = storyboard(project, '  - {id: one, prompt: "@maya dances like @dance", video: dance, host: fal}')
    (job,) = jobs_of(loaded(path).storyboard)
    assert job.endpoint == "fal-ai/kling-video/o3/standard/video-to-video/reference"
    assert job.request["prompt"] == "@Element1 dances like @Video1" and job.request["keep_audio"] is True
    assert "generate_audio" not in job.request and job.mode == "video"


def test_kling_compiles_omni_video_mentions_mode_and_string_durations(project):
    shots = ('  - {id: one, prompt: "@maya laces up @sneaker", shot_type: customize, host: kling,\n'
             '     multi_prompt: [{prompt: "@maya kneels", duration: 1}, {prompt: "@sneaker close", duration: 3}]}')
    (job,) = jobs_of(loaded(storyboard(project, shots)).storyboard)
    body = job.request
    assert job.endpoint == "v1/videos/omni-video" and body["model_name"] == "kling-v3-omni" and body["mode"] == "std"
    assert body["multi_shot"] is True and body["shot_type"] == "customize" and "prompt" not in body
    assert body["multi_prompt"][0] == {"index": 1, "prompt": "<<<image_1>>> and <<<image_2>>> kneels", "duration": "1"}
    assert body["multi_prompt"][1]["prompt"] == "<<<image_3>>> close" and body["duration"] == "4"
    assert body["sound"] == "off" and len(body["image_list"]) == 3 and "external_task_id" not in body


def test_kling_pro_always_says_pro_and_intelligent_becomes_intelligence(project):
    path = storyboard(project, '  - {id: one, prompt: "@maya runs", model: kling-video-o3-pro, host: kling}')
    (job,) = jobs_of(loaded(path).storyboard)
    assert job.request["mode"] == "pro" and job.request["shot_type"] == "intelligence"
    assert job.cost == get_model("kling-video-o3-pro", "kling").rates["base"] * 4


def test_plan_hosts_prices_aurora_on_every_host_side_by_side():
    result = CliRunner().invoke(main, ["plan", "storyboards/aurora/aurora.yaml", "--hosts", "--json"])
    assert result.exit_code == 0, result.output
    columns = {c["host"]: c for c in json.loads(result.output)}
    assert list(columns) == ["wavespeed", "fal", "kling"]
    assert columns["wavespeed"]["total_cost"] == "2.632" and columns["wavespeed"]["unavailable"] == []
    assert columns["fal"]["unavailable"] == ["leap"] and columns["kling"]["unavailable"] == ["leap"]
    for column in columns.values():
        assert set(column) >= {"host", "render_cost", "total_cost", "unavailable"}
    text = CliRunner().invoke(main, ["plan", "storyboards/aurora/aurora.yaml", "--hosts"]).output
    header = next(line for line in text.splitlines() if "model @ host now" in line)
    assert header.split()[-3:] == ["wavespeed", "fal", "kling"] and "Not available:" in text


def test_veo_and_wan_on_wavespeed_describe_mentions_and_send_their_own_fields(project):
    shots = ('  - {id: veo, prompt: "@maya laces up @sneaker", model: veo-3.1-fast-reference, duration: 8, sound: true}\n'
             '  - {id: wan, prompt: "@maya runs", model: wan-3.0-reference, duration: 12, seed: 7}')
    veo, wan = jobs_of(loaded(storyboard(project, shots)).storyboard)
    assert veo.endpoint == "google/veo3.1-fast/reference-to-video" and veo.request["generate_audio"] is True
    assert veo.request["prompt"] == "maya (young woman) laces up sneaker" and len(veo.request["images"]) == 3
    assert "duration" not in veo.request  # Veo's clip is always 8 s
    assert wan.request["duration"] == 12 and wan.request["seed"] == 7 and wan.request["enable_prompt_expansion"] is False


def test_seedance_numbers_every_image_and_refuses_a_reference_video(project):
    path = storyboard(project, '  - {id: one, prompt: "@maya laces up @sneaker", model: seedance-2.0-reference}')
    (job,) = jobs_of(loaded(path).storyboard)
    assert job.request["prompt"] == "@Image1 and @Image2 laces up @Image3" and job.request["duration"] == "4"
    bad = storyboard(project, '  - {id: one, prompt: "@maya", model: seedance-2.0-reference, video: dance}')
    with pytest.raises(ValidationError) as caught:
        load(bad)
    assert any("cannot use a reference video" in p.message for p in caught.value.errors)
