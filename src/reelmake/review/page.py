"""The contact sheet page: one Jinja2 template with its stylesheet and script inlined, so the live page
and an exported one are a single self-contained file each."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape


@cache
def _environment() -> Environment:
    return Environment(loader=PackageLoader("reelmake.review", "templates"), autoescape=select_autoescape(["html"]),
                       trim_blocks=True, lstrip_blocks=True)


def _script_json(data: Any) -> str:
    """JSON safe inside a <script> element: no "</script>" or "<!--" can end it early."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace(
        "&", "\\u0026")


def render_page(board: dict[str, Any], *, token: str = "", static: bool = False) -> str:
    env = _environment()
    loader = env.loader
    assert loader is not None
    css = loader.get_source(env, "review.css")[0]
    js = loader.get_source(env, "review.js")[0]
    return env.get_template("index.html").render(
        board=board, board_json=_script_json(board), token_json=_script_json(token), static=static, css=css, js=js)
