"""Output for people: plans (terminal tables, pull-request Markdown) and live render progress."""

from .decisions import decision_lines
from .plan import host_lines, plan_lines, plan_markdown, summary_line
from .progress import Progress, is_terminal

__all__ = ["Progress", "decision_lines", "host_lines", "is_terminal", "plan_lines", "plan_markdown", "summary_line"]
