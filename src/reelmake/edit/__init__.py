"""The editor: rendered clips → finished deliverables with ffmpeg.

``cut(spec, out_path, work_dir=…)`` makes one deliverable (mp4, poster, caption sidecars, JSON
report); ``prepare(spec, work_dir=…)`` makes ahead the pieces of the clips that have landed, while
the others still render; ``timeline(spec)`` says where each shot lands; ``TRANSITIONS`` lists the transition names.
"""

from .cut import check, cut, prepare
from .report import CutReport, ShotReport, cut_key
from .spec import BedSpec, ClipSpec, CutSpec, DeliverableSpec, MixSpec, Transition
from .timeline import TRANSITIONS, timeline

__all__ = [
    "TRANSITIONS",
    "BedSpec",
    "ClipSpec",
    "CutReport",
    "CutSpec",
    "DeliverableSpec",
    "MixSpec",
    "ShotReport",
    "Transition",
    "check",
    "cut",
    "cut_key",
    "prepare",
    "timeline",
]
