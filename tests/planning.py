"""Planning a loaded campaign (or storyboard) in tests without a workspace: files hashed directly."""

from __future__ import annotations

from reelmake.core.compile import compile_shot
from reelmake.core.graph import compile_storyboard
from reelmake.core.plan import Plan, make_plan
from reelmake.core.takes import new_takes
from reelmake.fsutil import sha256_file


def plan_of(campaign, cached=frozenset(), lock=None, force=(), **kwargs) -> Plan:
    """``cached``: the keys the clip store has (a set), or a function of the key; ``lock``: backend → job id →
    entry; ``force``: shots to give a new take, as `--force` does."""
    jobs = {v.id: jobs_of(v.storyboard, v.id) for v in campaign.variants}
    hit = cached if callable(cached) else (lambda key: key in cached)
    forced = []
    for variant in campaign.variants:
        added = new_takes(jobs[variant.id], force, take_compiler(variant.storyboard, variant.id), hit)
        jobs[variant.id] += added
        forced += [job.id for job in added]
    return make_plan(campaign, jobs, lock or {}, hit, forced=forced, **kwargs)


def _digests(sb):
    def digests(source):
        path = (sb.directory / source).resolve()
        return path, sha256_file(path)
    return digests


def jobs_of(sb, variant: str = ""):
    """A storyboard's compiled jobs, its reference files hashed directly."""
    return compile_storyboard(sb, _digests(sb), variant=variant)


def take_compiler(sb, variant: str = ""):
    return lambda job, take: compile_shot(sb, sb.shot(job.id.shot), _digests(sb), job.aspect_ratio, variant=variant,
                                          take=take)


def sections(entries: dict) -> dict:
    """Flat ``{job id: entry}`` → the lock's ``{backend: {job id: entry}}``."""
    out: dict = {}
    for name, entry in entries.items():
        out.setdefault(entry.get("backend", "?"), {})[name] = entry
    return out
