"""Every semantic rule of SPEC §2 has a failing example, and the error points at the right line."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from reelmake.cli import main
from reelmake.engine.loading import load
from reelmake.errors import ValidationError

HEAD = """
reelmake: 1
title: Test spot
defaults: {backend: wavespeed, model: kling-video-o3-std, duration: 5}
characters:
  maya: {description: runner, images: [refs/a.png, refs/b.png]}
assets:
  sneaker: {image: refs/c.png}
  dance: {video: refs/dance.mp4}
  theme: {audio: audio/theme.wav}
shots:
"""


def check(project, shots: str, tail: str = "", head: str = HEAD):
    path = project.write(head + shots + tail)
    try:
        problems = list(load(path).campaign.warnings)
    except ValidationError as exc:
        problems = exc.problems
    return path, problems


def only(problems, severity="error"):
    return [p for p in problems if p.severity == severity]


def assert_one(project, path, problems, needle: str, fragment: str, severity="error"):
    found = [p for p in only(problems, severity) if fragment in p.message]
    assert found, f"no {severity} containing {fragment!r} in: {[p.format() for p in problems]}"
    assert found[0].line == project.line_of(path, needle), found[0].format()
    return found[0]


def test_a_valid_storyboard_has_no_problems(project):
    _, problems = check(project, """
  - id: one
    prompt: "@maya laces up @sneaker, email us @@brand"
    video: dance
    refs: [sneaker]
""")
    assert problems == []


def test_duplicate_keys_are_errors_with_the_line_of_the_second(project):
    path, problems = check(project, """
  - id: one
    prompt: first
    prompt: second
""")
    problem = assert_one(project, path, problems, "prompt: second", "duplicate key 'prompt'")
    assert problem.path == "shots[0].prompt"


def test_yaml_syntax_errors_are_located_not_tracebacks(project):
    path, problems = check(project, """
  - id: one
    prompt: [unclosed
  - id: two
""")
    assert len(problems) == 1 and problems[0].message.startswith("YAML syntax error")
    assert problems[0].line >= project.line_of(path, "[unclosed")


def test_unknown_keys_suggest_the_intended_one(project):
    path, problems = check(project, """
  - id: one
    promt: typo
""")
    problem = assert_one(project, path, problems, "promt: typo", "unknown key 'promt'")
    assert "did you mean 'prompt'" in problem.message


def test_a_mention_must_name_a_character_or_asset(project):
    path, problems = check(project, """
  - id: one
    prompt: "@bob runs"
""")
    problem = assert_one(project, path, problems, "@bob runs", "@bob is not a character or asset")
    assert "shot 'one'" in problem.message and problem.path == "shots[0].prompt"


def test_mentions_in_multi_prompt_segments_are_checked(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
    multi_prompt:
      - {prompt: "@maya starts", duration: 2}
      - {prompt: "@ghost ends", duration: 3}
""")
    assert_one(project, path, problems, "@ghost ends", "@ghost is not a character")


def test_audio_assets_cannot_be_mentioned(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya dances to @theme"
""")
    assert_one(project, path, problems, "dances to @theme", "@theme is an audio asset")


def test_video_must_name_a_video_asset(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
    video: sneaker
""")
    assert_one(project, path, problems, "video: sneaker", "must name a video asset")


def test_refs_must_name_characters_or_image_assets(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
    refs: [theme]
""")
    assert_one(project, path, problems, "refs: [theme]", "must name a character or an image asset")


def test_duration_must_be_allowed_by_the_model(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
    duration: 17
""")
    problem = assert_one(project, path, problems, "duration: 17", "whole seconds from 3 to 15")
    assert problem.path == "shots[0].duration"


def test_fractional_seconds_are_refused_for_kling(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
    duration: 4.5
""")
    assert_one(project, path, problems, "duration: 4.5", "not 4.5 s")


def test_aspect_ratio_outside_the_format_is_a_schema_error(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
    aspect_ratio: "4:3"
""")
    assert_one(project, path, problems, '"4:3"', "is not one of")


def test_at_most_seven_reference_images(project):
    refs = ", ".join(f"n{i}" for i in range(8))
    assets = "".join(f"  n{i}: {{image: refs/n{i}.png}}\n" for i in range(8))
    head = HEAD.replace("assets:\n", "assets:\n" + assets)
    path, problems = check(project, f"""
  - id: one
    prompt: "a crowd"
    refs: [{refs}]
""", head=head)
    assert_one(project, path, problems, 'prompt: "a crowd"', "8 reference images, but kling-video-o3-std takes at most 7")


def test_at_most_four_reference_images_with_a_video(project):
    assets = "".join(f"  n{i}: {{image: refs/n{i}.png}}\n" for i in range(4))
    head = HEAD.replace("assets:\n", "assets:\n" + assets)
    path, problems = check(project, """
  - id: one
    prompt: "@maya with @n0 @n1 @n2"
    video: dance
""", head=head)
    assert_one(project, path, problems, "@maya with", "5 reference images, but kling-video-o3-std takes at most 4 with a "
                                                    "reference video")


def test_compiled_prompt_length_is_limited(project):
    path, problems = check(project, f"""
  - id: one
    prompt: "{'x' * 2501}"
""")
    assert_one(project, path, problems, "xxxx", "compiled prompt is 2501 characters")


def test_reference_images_must_meet_the_models_minimum_size(project):
    head = HEAD.replace("  sneaker: {image: refs/c.png}", "  sneaker: {image: refs/small.png}")
    path, problems = check(project, """
  - id: one
    prompt: "@sneaker on a ledge"
""", head=head)
    assert_one(project, path, problems, "refs/small.png", "at least 300 px")


def test_reference_video_length_and_size_are_checked(project):
    head = HEAD.replace("refs/dance.mp4", "refs/tiny.mp4")
    path, problems = check(project, """
  - id: one
    prompt: "@maya dances"
    video: dance
""", head=head)
    messages = [p.message for p in only(problems)]
    assert any("lasts 2.00 s" in m for m in messages), messages
    assert any("320x180" in m for m in messages), messages
    assert all(p.line == project.line_of(path, "refs/tiny.mp4") for p in only(problems))


@pytest.mark.parametrize("segments, fragment", [
    ("[{prompt: a, duration: 2}, {prompt: b, duration: 2}]", "sum to 4 s but the shot lasts 5 s"),
    ("[{prompt: a, duration: 4.5}, {prompt: b, duration: 0.5}]", "lasts at least 1 s"),
    ("[" + ", ".join("{prompt: a, duration: 1}" for _ in range(7)) + "]", "7 segments; at most 6"),
])
def test_multi_prompt_rules(project, segments, fragment):
    path, problems = check(project, f"""
  - id: one
    prompt: "@maya runs"
    duration: {7 if '7 segments' in fragment else 5}
    multi_prompt: {segments}
""")
    assert_one(project, path, problems, "multi_prompt:", fragment)


def test_a_multi_prompt_segment_is_at_most_512_characters_as_compiled(project):
    long = "@maya runs " + "on " * 165  # 506 characters as written; "@maya" compiles to "Figures 1 and 2"
    path, problems = check(project, f"""
  - id: one
    prompt: "@maya runs"
    multi_prompt: [{{prompt: "{long.strip()}", duration: 2}}, {{prompt: "@maya stops", duration: 3}}]
""")
    found = assert_one(project, path, problems, "multi_prompt:", "compiled segment prompt is")
    assert found.path == "shots[0].multi_prompt[0].prompt" and "at most 512" in found.message


def test_sound_with_a_reference_video_is_a_warning(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya dances"
    video: dance
    sound: true
""")
    assert only(problems) == []
    assert_one(project, path, problems, "sound: true", "sound is ignored with a reference video", "warning")


def test_keep_original_sound_without_video_is_a_warning(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
    keep_original_sound: false
""")
    assert_one(project, path, problems, "keep_original_sound", "only matters with a reference video", "warning")


def test_trim_must_lie_inside_the_shot(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
    trim: [1, 6]
""")
    assert_one(project, path, problems, "trim: [1, 6]", "0 ≤ in < out ≤ 5")


def test_trim_in_must_precede_out(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
    trim: [3, 2]
""")
    assert_one(project, path, problems, "trim: [3, 2]", "0 ≤ in < out")


def test_a_transition_must_be_shorter_than_both_shots(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
    trim: [0, 1]
  - id: two
    prompt: "@maya jumps"
    transition: {type: fade, duration: 1}
""")
    assert_one(project, path, problems, "transition: {type: fade", "shorter than both shots")


def test_the_first_shot_cannot_have_a_transition(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
    transition: {type: fade, duration: 0.5}
""")
    assert_one(project, path, problems, "transition:", "nothing to transition from")


def test_unknown_transition_types_are_schema_errors(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
  - id: two
    prompt: "@maya jumps"
    transition: {type: swirl, duration: 0.5}
""")
    assert_one(project, path, problems, "swirl", "'swirl' is not one of")


def test_referenced_files_must_exist(project):
    head = HEAD.replace("refs/c.png", "refs/missing.png")
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
""", head=head)
    assert_one(project, path, problems, "refs/missing.png", "does not exist")


def test_absolute_paths_are_errors(project):
    head = HEAD.replace("refs/c.png", str(project.root / "refs" / "c.png"))
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
""", head=head)
    assert_one(project, path, problems, "sneaker:", "is an absolute path")


def test_dotdot_escapes_from_the_project_root_are_errors(project, tmp_path):
    (tmp_path / "outside.png").write_bytes((project.root / "refs" / "c.png").read_bytes())
    head = HEAD.replace("refs/c.png", "../outside.png")
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
""", head=head)
    assert_one(project, path, problems, "../outside.png", "outside the project root")


def test_symlinks_leaving_the_project_root_are_errors(project, tmp_path):
    (tmp_path / "secret.png").write_bytes((project.root / "refs" / "c.png").read_bytes())
    os.symlink(tmp_path / "secret.png", project.root / "refs" / "link.png")
    head = HEAD.replace("refs/c.png", "refs/link.png")
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
""", head=head)
    assert_one(project, path, problems, "refs/link.png", "outside the project root")


def test_https_references_are_allowed_and_http_is_not(project):
    head = HEAD.replace("refs/c.png", "https://cdn.example.com/sneaker.png")
    _, problems = check(project, '  - {id: one, prompt: "@sneaker"}\n', head=head)
    assert only(problems) == []
    head = HEAD.replace("refs/c.png", "http://cdn.example.com/sneaker.png")
    path, problems = check(project, '  - {id: one, prompt: "@sneaker"}\n', head=head)
    assert_one(project, path, problems, "http://cdn", "only https:// URLs")


def test_soundtrack_items_must_name_audio_assets_and_shots(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
""", tail="""
soundtrack:
  - {asset: sneaker}
  - {asset: theme, at: nowhere}
""")
    assert_one(project, path, problems, "{asset: sneaker}", "must name an audio asset")
    assert_one(project, path, problems, "at: nowhere", "'nowhere' is not a shot id")


def test_shot_ids_are_unique(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
  - id: one
    prompt: "@maya jumps"
""")
    problem = [p for p in problems if "already used" in p.message][0]
    assert problem.line == project.line_of(path, '"@maya jumps"') - 1  # the second `- id: one`
    assert problem.path == "shots[1].id"


def test_models_must_belong_to_the_backend(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
    backend: animatic
    model: kling-video-o3-std
""")
    assert_one(project, path, problems, "    backend: animatic",
               "animatic does not offer kling-video-o3-std; hosts that have it: wavespeed, fal, kling")


def test_local_models_reject_reference_videos_and_multi_prompt(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
    backend: local
    model: wan2.1-vace-1.3b
    video: dance
    multi_prompt: [{prompt: a, duration: 2}, {prompt: b, duration: 3}]
""")
    assert_one(project, path, problems, "video: dance", "cannot use a reference video")
    assert_one(project, path, problems, "multi_prompt:", "does not support multi_prompt")


def test_all_problems_are_reported_at_once(project):
    _, problems = check(project, """
  - id: one
    prompt: "@bob runs"
    duration: 20
    trim: [4, 3]
  - id: two
    prompt: "@maya jumps @carol"
""")
    assert len(only(problems)) == 4


def test_validate_cli_prints_file_line_col_and_exits_1(project):
    path, _ = check(project, """
  - id: one
    prompt: "@bob runs"
""")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    line = project.line_of(path, "@bob runs")
    assert f"spot.yaml:{line}:13: error: shots[0].prompt: shot 'one': @bob" in result.output


def test_validate_json_has_the_specs_shape(project):
    path, _ = check(project, """
  - id: one
    prompt: "@maya runs"
    keep_original_sound: true
  - id: two
    prompt: "@bob runs"
""")
    result = CliRunner().invoke(main, ["validate", "--json", str(path)])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["valid"] is False
    assert set(data["errors"][0]) == {"file", "line", "column", "path", "message"}
    assert data["errors"][0]["line"] == project.line_of(path, "@bob runs")
    assert data["warnings"][0]["path"] == "shots[0].keep_original_sound"


def test_validation_changes_nothing_on_disk(project):
    path, _ = check(project, '  - {id: one, prompt: "@bob"}\n')
    before = sorted(p.relative_to(project.root) for p in project.root.rglob("*"))
    CliRunner().invoke(main, ["validate", str(path)])
    CliRunner().invoke(main, ["plan", str(path)])
    assert sorted(p.relative_to(project.root) for p in project.root.rglob("*")) == before


def test_a_shot_without_references_is_valid(project):
    # WaveSpeed's model page: the prompt is the only required field (this was a warning until issue 11).
    path, problems = check(project, """
  - id: one
    prompt: "an empty street"
""")
    assert problems == []


def test_the_schema_lists_exactly_the_editors_transitions():
    import json

    from reelmake.edit import TRANSITIONS
    from reelmake.core.schema import schema_text

    enum = json.loads(schema_text())["$defs"]["transition"]["properties"]["type"]["enum"]
    assert sorted(enum) == sorted(TRANSITIONS)


NINE = """\
reelmake: 1
title: Nine planted errors
budget: .nan
defaults: {backend: wavespeed, duration: 5}
characters:
  maya: {images: [refs/a.png, refs/missing.png]}
assets:
  outside: {image: ../../etc/passwd.png}
shots:
  - id: one
    promt: "typo"
    prompt: "@maya runs"
  - id: one
    prompt: "@bob waves"
  - id: three
    prompt: "@maya jumps"
    duration: 6
    multi_prompt:
      - {prompt: "a", duration: 2}
      - {prompt: "b", duration: 2}
  - id: four
    prompt: "x"
    duration: "five"
soundtrack:
  - {asset: nothing}
"""


def test_schema_and_semantic_errors_are_all_reported_in_one_run(project):
    path = project.write(NINE)
    try:
        load(path)
    except ValidationError as exc:
        errors = {(p.line, p.path) for p in exc.errors}
    expected = {
        (3, "budget"),                           # NaN (YAML level)
        (6, "characters.maya.images[1]"),        # a missing file
        (8, "assets.outside.image"),             # a path outside the project
        (11, "shots[0].promt"),                  # a typo key (schema)
        (13, "shots[1].id"),                     # a duplicate shot id
        (14, "shots[1].prompt"),                 # an unknown @mention
        (19, "shots[2].multi_prompt"),           # segments that do not sum to the shot
        (23, "shots[3].duration"),               # a string where a number goes (schema)
        (25, "soundtrack[0].asset"),             # a soundtrack item naming no audio asset
    }
    assert errors == expected
@pytest.mark.parametrize("block, fragment", [
    ("{tier: platinum}", "tier"),
    ("{rate_limit: {submits: 2}}", "per"),
    ("{rate_limit: {submits: 0, per: 60}}", "submits"),
])
def test_wavespeed_tier_settings_are_checked(project, block, fragment):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
""", tail=f"backends:\n  wavespeed: {block}\n")
    errors = only(problems)
    assert errors and all(p.path.startswith("backends.wavespeed") for p in errors), [p.format() for p in problems]
    assert any(fragment in p.format() for p in errors), [p.format() for p in problems]


def test_wavespeed_tiers_fill_in_concurrency_and_rate_limit_unless_overridden():
    from reelmake.backends.wavespeed.settings import resolve

    assert resolve({}) == {"tier": "bronze", "max_concurrency": 2, "rate_limit": {"submits": 2, "per": 60}}
    silver = resolve({"tier": "silver", "max_concurrency": 50})
    assert silver["max_concurrency"] == 50 and silver["rate_limit"] == {"submits": 500, "per": 60}
    assert resolve({"rate_limit": {"submits": 5, "per": 10}})["rate_limit"] == {"submits": 5, "per": 10}
SPOT_15 = """
  - id: one
    prompt: "@maya runs"
  - id: two
    prompt: "@maya jumps"
    duration: 6
    transition: {type: fade, duration: 0.5}
  - id: three
    prompt: "@maya lands"
    transition: {type: dissolve, duration: 0.5}
"""


def test_a_length_the_shots_add_up_to_is_accepted(project):
    _, problems = check(project, SPOT_15, "deliverables:\n  - {name: spot, fps: 25, length: 15}\n")
    assert only(problems) == []


def test_a_length_the_shots_do_not_add_up_to_names_their_total(project):
    path, problems = check(project, SPOT_15, "deliverables:\n  - {name: spot, fps: 25, length: 14}\n")
    found = assert_one(project, path, problems, "- {name: spot", "must last 14 s (350 frames at 25 fps)")
    assert "shots add up to 15 s (375 frames)" in found.message


def test_transitions_into_and_out_of_one_shot_must_not_overlap(project):
    path, problems = check(project, """
  - id: one
    prompt: "@maya runs"
  - id: two
    prompt: "@maya jumps"
    trim: [0, 1]
    transition: {type: fade, duration: 0.6}
  - id: three
    prompt: "@maya lands"
    transition: {type: fade, duration: 0.6}
""")
    assert_one(project, path, problems, "transition: {type: fade, duration: 0.6}", "overlap")
