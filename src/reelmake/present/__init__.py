"""Output for people: plans (terminal tables, pull-request Markdown) and live render progress."""

from .plan import plan_lines, plan_markdown, summary_line
from .progress import Progress, is_terminal

__all__ = ["Progress", "is_terminal", "plan_lines", "plan_markdown", "summary_line"]
