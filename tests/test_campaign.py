"""Campaigns: variants from a matrix or a CSV table, a sandboxed template, and errors that name the variant
and the line. Templates here reference no media, so no test waits on ffprobe (test_campaign_example does)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from reelmake.campaign.load import expand_command, variant_ids
from reelmake.engine.loading import is_campaign_file
from reelmake.engine.api import load as load_campaign
from reelmake.campaign.expand import cell_value, expand_matrix
from reelmake.errors import ValidationError

SPOT = """\
reelmake: 1
title: {{ brand }} {{ market }} {{ length }}
defaults: {backend: wavespeed, model: kling-video-o3-std, duration: 5}
shots:
  - id: hero
    prompt: A runner laces up a white sneaker on a rooftop at dawn
  - id: street
    prompt: {{ ("A runner crosses a street in " ~ city) | yaml }}
    caption: {{ tagline | yaml }}
{%- if length >= 30 %}
  - id: skyline
    prompt: Aerial view of a city at sunrise
{%- endif %}
"""

MATRIX = """\
reelmake: 1
campaign: spring
template: spot.yaml.j2
vars: {brand: Aurora, city: Anytown, tagline: "Made for: first light"}
variants:
  name: "{{ market }}-{{ length }}"
  matrix: {market: [us, de, jp], length: [15, 30]}
  exclude: [{market: jp, length: 30}]
"""


def make(directory: Path, campaign: str = MATRIX, template: str = SPOT, **files: str) -> Path:
    """A campaign folder: campaign.yaml, spot.yaml.j2 and any extra files (name=text, '__' for '/')."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "spot.yaml.j2").write_text(textwrap.dedent(template), encoding="utf-8")
    for name, text in files.items():
        path = directory / name.replace("__", "/").replace("_dot_", ".")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    path = directory / "campaign.yaml"
    path.write_text(textwrap.dedent(campaign), encoding="utf-8")
    return path


def problems_of(path: Path, **kwargs) -> list[str]:
    with pytest.raises(ValidationError) as info:
        load_campaign(path, **kwargs)
    return [p.format() for p in info.value.problems]


# --- expansion -------------------------------------------------------------------------------------------


def test_matrix_is_the_cartesian_product_minus_excludes_in_order(tmp_path):
    campaign = load_campaign(make(tmp_path))
    assert [v.id for v in campaign.variants] == ["us-15", "us-30", "de-15", "de-30", "jp-15"]
    de30 = campaign.variant("de-30")
    assert de30.vars == {"brand": "Aurora", "city": "Anytown", "tagline": "Made for: first light",
                         "market": "de", "length": 30}
    assert [s.id for s in de30.storyboard.shots] == ["hero", "street", "skyline"]
    assert [s.id for s in campaign.variant("de-15").storyboard.shots] == ["hero", "street"]
    assert de30.storyboard.title == "Aurora de 30"
    assert de30.storyboard.shots[1].caption == "Made for: first light"  # the yaml filter kept the colon
    assert campaign.name == "spring" and campaign.budget is None


def test_include_follows_github_actions_semantics():
    block = {
        "matrix": {"fruit": ["apple", "pear"], "animal": ["cat", "dog"]},
        "include": [{"color": "green"}, {"color": "pink", "animal": "cat"}, {"fruit": "apple", "shape": "circle"},
                    {"fruit": "banana"}, {"fruit": "banana", "animal": "cat"}],
    }
    assert expand_matrix(block, lambda *a: pytest.fail(f"unexpected problem {a}")) == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_include_adds_market_variables_and_new_variants(tmp_path):
    campaign = make(tmp_path, MATRIX.replace(
        "  exclude: [{market: jp, length: 30}]\n",
        "  exclude: [{market: jp}]\n"
        "  include:\n"
        "    - {market: de, city: Berlin}\n"
        "    - {market: fr, length: 15, city: Paris}\n"))
    loaded = load_campaign(campaign)
    assert [v.id for v in loaded.variants] == ["us-15", "us-30", "de-15", "de-30", "fr-15"]
    assert loaded.variant("de-30").vars["city"] == "Berlin"
    assert loaded.variant("us-30").vars["city"] == "Anytown"  # shared vars lie underneath
    assert loaded.variant("fr-15").vars["city"] == "Paris"


def test_exclude_with_an_unknown_key_is_an_error_and_one_matching_nothing_a_warning(tmp_path):
    bad = make(tmp_path / "bad", MATRIX.replace("{market: jp, length: 30}", "{markt: jp}"))
    assert problems_of(bad) == [
        f"{bad}:8:14: error: variants.exclude[0].markt: 'markt' is not a matrix key (did you mean 'market'?)"]
    loose = load_campaign(make(tmp_path / "loose", MATRIX.replace("{market: jp, length: 30}", "{market: fr}")))
    assert [w.format() for w in loose.warnings] == [
        f"{tmp_path / 'loose' / 'campaign.yaml'}:8:13: warning: variants.exclude[0]: "
        "this exclude matches no combination of the matrix"]


TABLE_CAMPAIGN = """\
reelmake: 1
campaign: spring
template: spot.yaml.j2
vars: {brand: Aurora}
variants:
  name: "{{ market }}-{{ length }}"
  table: markets/variants.csv
"""


def test_table_rows_are_variants_and_numbers_stay_numbers(tmp_path):
    campaign = make(tmp_path, TABLE_CAMPAIGN, markets__variants_dot_csv="""\
        market,length,city,tagline,ratio,zip
        us,15,New York,"Made for first light, every day",1.5,10001
        de,30,Berlin,Für das erste Licht,2,01067

        """)
    loaded = load_campaign(campaign)
    assert [v.id for v in loaded.variants] == ["us-15", "de-30"]
    assert loaded.variant("us-15").vars == {"brand": "Aurora", "market": "us", "length": 15, "city": "New York",
                                             "tagline": "Made for first light, every day", "ratio": 1.5,
                                             "zip": 10001}
    de = loaded.variant("de-30").vars
    assert (de["length"], de["ratio"], de["zip"], de["tagline"]) == (30, 2, "01067", "Für das erste Licht")
    assert type(de["length"]) is int and type(loaded.variant("us-15").vars["ratio"]) is float


@pytest.mark.parametrize(("cell", "value"), [
    ("15", 15), ("-3", -3), ("0", 0), ("2.5", 2.5), ("1e3", 1000.0), (".5", 0.5), (" 15 ", 15),
    ("007", "007"), ("nan", "nan"), ("inf", "inf"), ("15s", "15s"), ("", ""), ("1_000", "1_000"),
])
def test_table_cells_become_int_float_or_text(cell, value):
    assert cell_value(cell) == value and type(cell_value(cell)) is type(value)


def test_table_errors_point_at_the_csv_row(tmp_path):
    campaign = make(tmp_path, TABLE_CAMPAIGN, markets__variants_dot_csv="""\
        market,length,city
        us,15,New York
        de,30,Berlin,extra
        jp,15,Tokyo
        """)
    csv = tmp_path / "markets" / "variants.csv"
    assert problems_of(campaign) == [
        f"{csv}:3:1: error: row has 4 cells but the header has 3 columns (market, length, city); "
        "quote cells that contain commas"]


def test_table_header_names_must_be_variable_names(tmp_path):
    campaign = make(tmp_path, TABLE_CAMPAIGN, markets__variants_dot_csv="market,length,tag line,variant\nus,15,x,y\n")
    assert [p.split(": error: ")[1] for p in problems_of(campaign)] == [
        "column 'tag line' is not a variable name: use letters, digits and '_', not starting with a digit "
        "(templates write {{ name }})",
        "column 'variant' is reserved: reelmake sets {{ campaign }} and {{ variant }} for every variant; "
        "rename the column",
    ]


def test_variant_ids_must_be_filesystem_safe(tmp_path):
    campaign = make(tmp_path, MATRIX.replace("[us, de, jp]", "[US, de]").replace(
        "  exclude: [{market: jp, length: 30}]\n", ""))
    messages = problems_of(campaign)
    assert len(messages) == 2  # US-15 and US-30, each named
    assert messages[0] == (
        f"{campaign}:6:9: error: variant id 'US-15' (name pattern '{{{{ market }}}}-{{{{ length }}}}' with "
        "(market=US, length=15)) is not filesystem-safe: use lowercase letters, digits, '.', '_' and '-', "
        "starting with a letter or digit (filters help: {{ market | lower }})")


def test_variant_ids_must_be_unique(tmp_path):
    campaign = make(tmp_path, MATRIX.replace('"{{ market }}-{{ length }}"', '"{{ market }}"'))
    messages = problems_of(campaign)
    assert messages[0].endswith("error: variants (market=us, length=15) and (market=us, length=30) both get id "
                                "'us': make the name pattern '{{ market }}' tell them apart")
    assert len(messages) == 2  # us and de collide; jp-30 is excluded


def test_variants_can_be_selected_by_id_or_pattern(tmp_path):
    campaign = make(tmp_path)
    loaded = load_campaign(campaign, variants=["de-*", "us-15"])
    assert [v.id for v in loaded.variants] == ["us-15", "de-15", "de-30"]
    assert loaded.all_variant_ids == ("us-15", "us-30", "de-15", "de-30", "jp-15") and loaded.selected
    assert problems_of(campaign, variants=["fr-15"]) == [
        f"{campaign}:5:1: error: variants: no variant matches 'fr-15'; variants: us-15, us-30, de-15, de-30, jp-15"]
    assert variant_ids(campaign) == ["us-15", "us-30", "de-15", "de-30", "jp-15"]


# --- the campaign file itself ----------------------------------------------------------------------------


def test_campaign_file_schema_errors_are_located_and_worded_for_humans(tmp_path):
    campaign = make(tmp_path, """\
        reelmake: 1
        campaign: Spring Launch
        template: spot.yaml.j2
        vars: {variant: x}
        variants:
          name: "{{ market }}"
          matrix: {market: [us]}
          table: variants.csv
        budgett: 10
        """)
    assert problems_of(campaign) == [
        f"{campaign}:2:11: error: campaign: 'Spring Launch' is not a valid campaign name (it names the output "
        "folder): use lowercase letters, digits, '.', '_' and '-'",
        f"{campaign}:4:7: error: vars: 'variant' is reserved: reelmake sets {{{{ campaign }}}} and "
        "{{ variant }} for every variant; rename the variable",
        f"{campaign}:6:3: error: variants: give either 'matrix' or 'table', not both",
        f"{campaign}:9:1: error: budgett: unknown key 'budgett' (did you mean 'budget'?)",
    ]


def test_template_outside_the_campaign_directory_is_refused(tmp_path):
    (tmp_path / "outside.yaml.j2").write_text(SPOT)
    campaign = make(tmp_path / "c", MATRIX.replace("template: spot.yaml.j2", "template: ../outside.yaml.j2"))
    assert problems_of(campaign) == [
        f"{campaign}:3:11: error: template: '../outside.yaml.j2' resolves outside the campaign directory "
        f"{(tmp_path / 'c').resolve()}"]


def test_is_campaign_file_tells_campaigns_from_storyboards(tmp_path):
    campaign = make(tmp_path)
    storyboard = tmp_path / "story.yaml"
    storyboard.write_text("reelmake: 1\ntitle: x\nshots: [{id: a, prompt: b}]\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("reelmake: 1\ncampaign: x\nvariants: [\n")
    assert is_campaign_file(campaign) and is_campaign_file(broken)
    assert not is_campaign_file(storyboard) and not is_campaign_file(tmp_path / "missing.yaml")


# --- sandbox ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("expression", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ brand.__class__ }}",
])
def test_templates_cannot_reach_python_internals(tmp_path, expression):
    template = SPOT.replace("title: {{ brand }}", f"title: {expression} {{{{ brand }}}}")
    messages = problems_of(make(tmp_path, template=template))
    assert len(messages) == 1  # one problem naming every variant, not five copies
    spot = tmp_path / "spot.yaml.j2"
    assert messages[0].startswith(f"{spot}:2:1: error: variants us-15, us-30, de-15, de-30, jp-15: access to ")
    assert "is unsafe" in messages[0] and "not Python internals" in messages[0]


def test_templates_cannot_mutate_shared_variables(tmp_path):
    template = SPOT.replace("title: {{ brand }}", "title: {{ markets.append('x') }}{{ brand }}")
    campaign = make(tmp_path, MATRIX.replace("vars: {", "vars: {markets: [us], "))
    (tmp_path / "spot.yaml.j2").write_text(template)
    assert "unsafe" in problems_of(campaign)[0]


def test_templates_include_files_from_the_campaign_directory_only(tmp_path):
    (tmp_path / "secret.txt").write_text("api_key: hunter2\n")
    campaign = make(tmp_path / "c", template=SPOT + "{% include '../secret.txt' %}\n")
    messages = problems_of(campaign)
    assert len(messages) == 1
    assert messages[0].startswith(f"{tmp_path / 'c' / 'spot.yaml.j2'}:14:1: error: variants us-15, us-30, de-15, "
                                  "de-30, jp-15: templates may only include files inside the campaign directory: "
                                  "'../secret.txt' resolves outside the campaign directory")
    assert "hunter2" not in messages[0]


def test_absolute_paths_and_symlinks_out_of_the_directory_are_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("api_key: hunter2\n")
    campaign = make(tmp_path / "c", template=SPOT + "{% include 'shared/link.txt' %}\n")
    (tmp_path / "c" / "shared").mkdir()
    os.symlink(secret, tmp_path / "c" / "shared" / "link.txt")
    assert "resolves outside the campaign directory" in problems_of(campaign)[0]
    (tmp_path / "c" / "spot.yaml.j2").write_text(SPOT + f"{{% include '{secret}' %}}\n")
    assert "is not a relative path" in problems_of(campaign)[0]


def test_templates_may_include_and_import_files_beside_them(tmp_path):
    campaign = make(tmp_path, template=SPOT.replace("title: {{ brand }}", "{% import 'parts/macros.j2' as m %}"
                                                                          "title: {{ m.loud(brand) }}"),
                    parts__macros_dot_j2="{% macro loud(text) %}{{ text | upper }}{% endmacro %}\n")
    assert load_campaign(campaign).variant("us-15").storyboard.title == "AURORA us 15"


# --- errors that locate themselves -----------------------------------------------------------------------


def test_an_undefined_variable_names_the_variants_the_template_line_and_a_suggestion(tmp_path):
    template = SPOT.replace("caption: {{ tagline | yaml }}", "caption: {{ taglin | yaml }}")
    messages = problems_of(make(tmp_path, template=template))
    assert messages == [f"{tmp_path / 'spot.yaml.j2'}:9:1: error: variants us-15, us-30, de-15, de-30, jp-15: "
                        "'taglin' is undefined (did you mean 'tagline'?)"]


def test_a_template_syntax_error_names_the_variant_and_the_line(tmp_path):
    template = SPOT.replace("{%- endif %}", "{%- endfor %}")
    messages = problems_of(make(tmp_path, template=template), variants=["de-30"])
    assert len(messages) == 1
    assert messages[0].startswith(f"{tmp_path / 'spot.yaml.j2'}:13:1: error: variant de-30: template syntax error: "
                                  "Encountered unknown tag 'endfor'.")


def test_an_error_inside_an_included_file_names_that_file_and_line(tmp_path):
    campaign = make(tmp_path, template=SPOT.replace("title: {{ brand }}", "title: {% include 'title.j2' %}"),
                    title_dot_j2="{{ brand }}\n{{ slogan }}")
    assert problems_of(campaign, variants=["us-15"]) == [
        f"{tmp_path / 'title.j2'}:2:1: error: variant us-15: 'slogan' is undefined; variables: brand, campaign, "
        "city, length, market, tagline, variant"]


def test_storyboard_errors_name_the_variant_and_the_rendered_line(tmp_path):
    template = SPOT.replace("duration: 5}", "duration: {{ 5 if market != 'jp' else 20 }}}")
    messages = problems_of(make(tmp_path, template=template))
    label = f"{tmp_path / 'campaign.yaml'}[jp-15] (rendered from {tmp_path / 'spot.yaml.j2'})"
    assert messages == [
        f"{label}:5:5: error: shots[0].duration: shot 'hero': kling-video-o3-std renders whole seconds "
        "from 3 to 15 s, not 20 s",
        f"{label}:7:5: error: shots[1].duration: shot 'street': kling-video-o3-std renders whole seconds "
        "from 3 to 15 s, not 20 s",
    ]


def test_every_bad_variant_is_reported_not_just_the_first(tmp_path):
    template = SPOT.replace("title: {{ brand }}", "title: {{ brand }}{% if market == 'de' %}{{ umlaut }}{% endif %}")
    template = template.replace("prompt: Aerial view",
                                "prompt: Aerial view{{ ' with @drone' if market == 'us' else '' }}")
    messages = problems_of(make(tmp_path, template=template))
    assert len(messages) == 2
    assert messages[0].startswith(f"{tmp_path / 'campaign.yaml'}[us-30] (rendered from ")
    assert "@drone" in messages[0]
    assert messages[1] == (f"{tmp_path / 'spot.yaml.j2'}:2:1: error: variants de-15, de-30: 'umlaut' is undefined; "
                           "variables: brand, campaign, city, length, market, tagline, variant")


# --- expand ----------------------------------------------------------------------------------------------


def test_expand_prints_what_the_template_renders_even_when_it_is_not_a_valid_storyboard(tmp_path):
    template = SPOT.replace("duration: 5}", "duration: 99}")
    campaign = make(tmp_path, template=template)
    text = expand_command(campaign, "de-30")
    assert text.startswith("reelmake: 1\ntitle: Aurora de 30\n")
    assert "prompt: A runner crosses a street in Anytown\n    caption: \"Made for: first light\"\n" in text
    assert "  - id: skyline\n" in text and text.endswith("Aerial view of a city at sunrise\n")
    with pytest.raises(ValidationError, match="no variant 'fr-15'; variants: us-15, us-30"):
        expand_command(campaign, "fr-15")


def test_expand_reports_template_errors_of_that_variant(tmp_path):
    campaign = make(tmp_path, template=SPOT.replace("{{ brand }}", "{{ brand }}{{ nope }}"))
    with pytest.raises(ValidationError) as info:
        expand_command(campaign, "us-15")
    assert [p.format() for p in info.value.problems] == [
        f"{tmp_path / 'spot.yaml.j2'}:2:1: error: variant us-15: 'nope' is undefined; variables: brand, campaign, "
        "city, length, market, tagline, variant"]


@pytest.mark.parametrize("value", [
    "Made for first light.", "Made for: first light", "a #tag", "Ready?", "yes", "Null", "on", "- dash", "@runner",
    "it's", '"quoted"', "100%", "夜明けのために。", "Für das erste Licht", "a, b", "[x]", "{y}", "trailing ", "",
    "line\nbreak", "a\u2028b", "nel\x85", "tab\there", "quote \" and \\ backslash", "🎬 \u00a0nbsp", 15, 2.5, True,
    None, ["a", "b: c"], {"k": "v"},
])
def test_the_yaml_filter_writes_values_that_read_back_unchanged(value):
    import yaml

    from reelmake.campaign.template import yaml_scalar

    written = yaml_scalar(value)
    assert yaml.safe_load(f"k: {written}")["k"] == value
    assert yaml.safe_load(f"{{a: 1, k: {written}, b: 2}}")["k"] == value


def test_a_missing_include_names_the_file_it_looked_for(tmp_path):
    campaign = make(tmp_path, template=SPOT + "{% include 'parts/vo.j2' %}\n")
    messages = problems_of(campaign, variants=["us-15"])
    assert messages == [f"{tmp_path / 'spot.yaml.j2'}:14:1: error: variant us-15: included template 'parts/vo.j2' "
                        f"does not exist in {tmp_path.resolve()} (looked for {tmp_path.resolve() / 'parts/vo.j2'})"]


def test_a_missing_template_or_table_is_located_in_the_campaign_file(tmp_path):
    campaign = make(tmp_path, TABLE_CAMPAIGN.replace("template: spot.yaml.j2", "template: spots.yaml.j2"))
    assert problems_of(campaign) == [
        f"{campaign}:3:11: error: template: 'spots.yaml.j2' does not exist (looked for "
        f"{tmp_path.resolve() / 'spots.yaml.j2'})",
        f"{campaign}:7:10: error: variants.table: 'markets/variants.csv' does not exist (looked for "
        f"{tmp_path.resolve() / 'markets/variants.csv'})",
    ]
