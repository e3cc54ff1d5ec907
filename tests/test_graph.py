"""The build graph, validated and planned (issue 19): continue_from and generate:, located errors for
cycles, self-references and unknown shots; plans that price a whole chain and name what each row needs."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from reelmake.cli import main
from reelmake.core.graph import dependants, find_cycle, order, upstream_closure
from reelmake.engine.loading import load
from reelmake.errors import ValidationError
from tests.planning import jobs_of, plan_of


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def errors_of(path) -> list:
    with pytest.raises(ValidationError) as caught:
        load(path)
    return [p for p in caught.value.problems if p.severity == "error"]


CHAIN = """
    reelmake: 1
    title: Chain
    defaults: {backend: wavespeed, duration: 5}
    characters:
      maya:
        description: young woman, silver buzz cut, orange windbreaker
        generate: {prompt: "character sheet, front and side views"}
    assets:
      sneaker: {image: refs/c.png}
    shots:
      - {id: lace-up, prompt: "@maya laces up @sneaker"}
      - {id: leap, prompt: "@maya leaps the gap", continue_from: lace-up}
      - {id: landing, prompt: "she lands and looks back", continue_from: leap, sound: true}
      - {id: packshot, prompt: "@sneaker on a ledge"}
"""


def test_the_graph_orders_images_first_and_each_shot_after_what_it_continues_from(project):
    path = project.write("""
        reelmake: 1
        title: Backwards
        defaults: {duration: 2}
        characters:
          maya: {description: a runner, generate: {prompt: sheet}}
        shots:
          - {id: a, prompt: "@maya one", continue_from: c}
          - {id: b, prompt: two}
          - {id: c, prompt: three}
    """)
    sb = load(path).campaign.storyboard
    assert order(sb) == ["character:maya", "b", "c", "a"]
    assert upstream_closure(sb, ["a"]) == ["character:maya", "c", "a"]
    assert dependants(sb, "c") == ["a"] and dependants(sb, "character:maya") == ["a"]
    assert find_cycle(sb) is None


def test_a_cycle_is_a_located_error_that_shows_the_path(project):
    path = project.write("""
        reelmake: 1
        title: Loop
        defaults: {duration: 2}
        shots:
          - {id: a, prompt: one, continue_from: c}
          - {id: b, prompt: two, continue_from: a}
          - {id: c, prompt: three, continue_from: b}
    """)
    (error,) = errors_of(path)
    assert error.message.endswith("none can go first: a → b → c → a (a shot continues from, or a generated image "
                                  "uses, the one before it)")
    assert (error.path, error.line) == ("shots[1].continue_from", project.line_of(path, "id: b"))


@pytest.mark.parametrize("shots, where, message", [
    ('  - {id: a, prompt: one, continue_from: a}', "shots[0].continue_from",
     "shot 'a' cannot continue from itself; name the shot it follows"),
    ('  - {id: a, prompt: one}\n  - {id: b, prompt: two, continue_from: lace}', "shots[1].continue_from",
     "shot 'b': continue_from 'lace' is not a shot of this storyboard (shots: a)"),
    ('  - {id: a, prompt: one, duration: 2}\n  - {id: b, prompt: two, continue_from: a, frame: 3}', "shots[1].frame",
     "shot 'b': frame 3 is past the end of 'a', whose clip lasts 2 s"),
    ('  - {id: a, prompt: one, duration: 2}\n  - {id: b, prompt: two, continue_from: a, frame: 2}', "shots[1].frame",
     "shot 'b': frame 2 is past the end of 'a', whose clip lasts 2 s"),
])
def test_continue_from_names_another_shot_and_a_frame_inside_it(project, shots, where, message):
    path = project.write(f"reelmake: 1\ntitle: T\ndefaults: {{duration: 2}}\nshots:\n{shots}\n")
    (error,) = errors_of(path)
    assert (error.path, error.message) == (where, message)
    assert error.line == project.line_of(path, where.split(".")[-1] + ":")


def test_generated_images_that_use_each_other_in_a_circle_are_a_located_error(project):
    path = project.write("""
        reelmake: 1
        title: Loop
        characters:
          maya: {description: a runner, generate: {prompt: "with @jo"}}
          jo: {description: her coach, generate: {prompt: sheet, refs: [maya]}}
        shots:
          - {id: a, prompt: "@maya and @jo", duration: 2}
    """)
    (error,) = errors_of(path)
    assert "character:maya → character:jo → character:maya" in error.message or \
        "character:jo → character:maya → character:jo" in error.message
    assert error.path.startswith("characters.") and error.path.split(".")[-1] in ("refs", "prompt")


@pytest.mark.parametrize("generate, where, message", [
    ("{model: kling-video-o3-std, prompt: sheet}", "characters.maya.generate.model",
     "character 'maya': image model 'kling-video-o3-std' makes videos, not images (image models wavespeed offers: "
     "seedream-4.5, nano-banana)"),
    ("{model: seedream-4.5, prompt: sheet, size: 1024x1024}", "characters.maya.generate.size",
     "character 'maya': seedream-4.5 cannot make a 1024x1024 image: it takes at least 3,686,400 pixels in all "
     "(2048x2048, 2560x1440…)"),
    ("{model: nano-banana, prompt: sheet, size: 1024x1024}", "characters.maya.generate.size",
     "character 'maya': nano-banana picks its own size; remove `size`"),
    ("{prompt: \"with @maya\"}", "characters.maya.generate.prompt", "character 'maya': cannot use itself as a reference"),
    ("{prompt: sheet, refs: [theme]}", "characters.maya.generate.refs[0]",
     "character 'maya': theme must name a character or an image asset"),
])
def test_generate_is_checked_against_the_image_models(project, generate, where, message):
    path = project.write(f"""
        reelmake: 1
        title: T
        characters:
          maya: {{description: a runner, generate: {generate}}}
        assets:
          theme: {{audio: audio/theme.wav}}
        shots:
          - {{id: a, prompt: "@maya runs", duration: 2}}
    """)
    assert [(e.path, e.message) for e in errors_of(path)] == [(where, message)]


def test_a_shot_cannot_use_an_image_model_and_a_character_needs_images_or_generate(project):
    path = project.write("""
        reelmake: 1
        title: T
        characters:
          maya: {description: a runner}
        shots:
          - {id: a, prompt: "@maya runs", model: seedream-4.5, duration: 5}
    """)
    messages = {e.path: e.message for e in errors_of(path)}
    assert messages["characters.maya"] == "a character needs exactly one of: images, generate"
    assert messages["shots[0].model"].startswith("shot 'a': model 'seedream-4.5' makes images, not videos")


def test_the_plan_prices_the_whole_chain_and_says_what_each_render_waits_for(project):
    path = project.write(CHAIN)
    plan = plan_of(load(path).campaign)
    rows = {r.name: r for r in plan.rows}
    assert [r.name for r in plan.rows] == ["character:maya", "lace-up", "leap", "landing", "packshot"]
    image = rows["character:maya"]
    assert (image.kind, image.model, image.backend, image.cost, image.mode) == \
        ("image", "seedream-4.5", "wavespeed", Decimal("0.04"), "image")
    assert rows["leap"].needs == ("lace-up", "character:maya") and rows["leap"].waiting_for == ("lace-up",
                                                                                                 "character:maya")
    assert rows["packshot"].needs == () and not rows["packshot"].job.provisional
    # Every render of the chain is priced before anything is submitted: 4 × 5 s (one with sound) + the image.
    assert plan.render_cost == Decimal("0.04") + 3 * Decimal("0.420") + Decimal("0.560")
    data = plan.to_json()
    json_rows = {r["id"]: r for r in data["shots"]}
    assert json_rows["character:maya"]["kind"] == "image" and json_rows["lace-up"]["needs"] == ["character:maya"]
    assert json_rows["landing"]["key"] is None and json_rows["landing"]["waiting_for"] == ["leap"]
    assert json_rows["packshot"]["key"] == rows["packshot"].key and json_rows["packshot"]["kind"] == "shot"
    text = cli("plan", str(path), "--cache-dir", str(project.root / ".c")).output
    assert "+ character:maya  wavespeed/seedream-4.5" in text and "$0.04  new" in text
    assert "new, after lace-up, character:maya" in text
    assert "Plan: 5 to render ($1.86)" in text


def test_a_continued_shot_starts_from_figure_one_on_kling_and_the_first_frame_on_klings_api(project):
    path = project.write(CHAIN.replace("defaults: {backend: wavespeed", "defaults: {backend: wavespeed"))
    leap = next(j for j in jobs_of(load(path).campaign.storyboard) if j.id.shot == "leap")
    assert leap.request["prompt"] == "Start from Figure 1. Figure 2 leaps the gap"
    assert leap.request["images"][0].startswith("upstream:")  # a placeholder until lace-up exists
    omni = project.write(CHAIN.replace("backend: wavespeed", "host: kling"), "omni.yaml")
    leap = next(j for j in jobs_of(load(omni).campaign.storyboard) if j.id.shot == "leap")
    assert leap.request["prompt"] == "Start from <<<image_1>>>. <<<image_2>>> leaps the gap"
    assert leap.request["image_list"][0]["type"] == "first_frame" and "type" not in leap.request["image_list"][1]


def test_the_start_image_goes_to_fals_start_image_url(project):
    path = project.write(CHAIN.replace("backend: wavespeed", "host: fal"))
    leap = next(j for j in jobs_of(load(path).campaign.storyboard) if j.id.shot == "leap")
    assert leap.request["start_image_url"].startswith("upstream:")
    assert leap.request["prompt"] == "Start from the start image. @Element1 leaps the gap"
    assert len(leap.request["elements"]) == 1 and "image_urls" not in leap.request


def test_a_generated_image_on_a_host_without_image_models_is_an_error_naming_them(project):
    path = project.write("""
        reelmake: 1
        title: T
        characters:
          maya: {description: a runner, generate: {model: seedream-4.5, host: fal}}
        shots:
          - {id: a, prompt: "@maya runs", duration: 2}
    """)
    assert [e.message for e in errors_of(path)] == \
        ["character 'maya': fal does not offer seedream-4.5; hosts that have it: wavespeed"]


def test_backend_animatic_draws_generated_images_offline_for_free(project):
    path = project.write(CHAIN)
    campaign = load(path, backend="animatic").campaign
    made = campaign.storyboard.generated["character:maya"]
    assert (made.backend, made.model, made.own_backend) == ("animatic", "animatic-image", "wavespeed")
    assert plan_of(campaign).render_cost == 0


def test_plan_json_from_the_cli(project):
    path = project.write(CHAIN)
    data = json.loads(cli("plan", str(path), "--json", "--cache-dir", str(project.root / ".c")).stdout)
    assert [(r["id"], r["kind"], r["needs"]) for r in data["shots"]] == [
        ("character:maya", "image", []), ("lace-up", "shot", ["character:maya"]),
        ("leap", "shot", ["lace-up", "character:maya"]), ("landing", "shot", ["leap"]), ("packshot", "shot", [])]
    assert data["render_cost"] == "1.860"


def test_a_chain_of_thousands_of_shots_is_checked_without_recursion(project):
    shots = "\n".join(f"  - {{id: s{i}, prompt: p{i}, duration: 1{', continue_from: s' + str(i - 1) if i else ''}}}"
                      for i in reversed(range(3000)))  # the last first: the deepest walk
    path = project.write(f"reelmake: 1\ntitle: Long\ndefaults: {{backend: animatic}}\nshots:\n{shots}\n")
    from reelmake.engine.api import load

    assert len(load(path, check_media=False).variants[0].storyboard.shots) == 3000
