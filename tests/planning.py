"""Planning a loaded campaign (or storyboard) in tests without a workspace: files hashed directly."""

from __future__ import annotations

from reelmake.core.compile import compile_storyboard
from reelmake.core.plan import Plan, make_plan
from reelmake.fsutil import sha256_file


def plan_of(campaign, cached=frozenset(), lock=None, **kwargs) -> Plan:
    """``cached``: the keys the clip store has (a set), or a function of the key."""
    jobs = {v.id: jobs_of(v.storyboard, v.id) for v in campaign.variants}
    hit = cached if callable(cached) else (lambda key: key in cached)
    return make_plan(campaign, jobs, lock or {}, hit, **kwargs)


def jobs_of(sb, variant: str = ""):
    """A storyboard's compiled jobs, its reference files hashed directly."""
    def digests(source):
        path = (sb.directory / source).resolve()
        return path, sha256_file(path)

    return compile_storyboard(sb, digests, variant=variant)
