"""The build graph: which renders are made from which other renders' outputs. Pure.

Nodes are the shots (by id) and the generated images (``character:maya``, ``asset:sneaker``). A node
*needs* another when it is compiled from its output::

    character:maya ──image──▶ lace-up ──last frame──▶ leap ──last frame──▶ landing
                   └─image──▶ packshot

- a shot that ``continue_from: lace-up`` starts from a frame of lace-up's clip (its first reference);
- a shot, or a generated image, that uses a generated image as a reference (a mention or ``refs``).

Because the downstream request holds the upstream output's content hash, the downstream render key
changes whenever the upstream render does; a downstream job whose upstream output does not exist yet
compiles *provisionally* (see :class:`reelmake.jobs.Upstream`) and is compiled again once it does.
Which take of the upstream a downstream uses: the approved one, else take 1. With
``approve_before_use``, dependants are *held* until a take is approved.

:func:`compile_graph` compiles every node in order; the outputs themselves (a stored image, a frame
extracted from a stored clip) come from ``artifact``, which the engine provides: nothing here reads
the disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..jobs import InputFile, JobId, RenderJob, Upstream
from .compile import (
    GENERATED,
    Digests,
    compile_image,
    compile_shot,
    image_reference_names,
    reference_names,
    shot_aspects,
)
from .model import Storyboard
from .takes import approval

# (the upstream job, the frame of it or None for a generated image) → (path, sha256) of that output, or
# None when it does not exist (yet).
Artifact = Callable[[RenderJob, "str | None"], "tuple[Path, str] | None"]
# backend, take 1's id → {take: render key} the lock records (takes added by `reelmake take`, --force)
Recorded = Callable[[str, JobId], Mapping[int, str]]


def is_image_node(node: str) -> bool:
    return node.startswith(("character:", "asset:"))


def needs(sb: Storyboard, node: str) -> list[tuple[str, str | None]]:
    """What ``node`` is compiled from: (upstream node, frame) pairs, frame None for a generated image.
    Names that are not nodes (unknown shots, plain images) are left out: the rules report them."""
    out: list[tuple[str, str | None]] = []
    if is_image_node(node):
        made = sb.generated.get(node)
        named = image_reference_names(sb, made) if made else []
    else:
        try:
            shot = sb.shot(node)
        except KeyError:
            return []
        if shot.continue_from and any(s.id == shot.continue_from for s in sb.shots):
            out.append((shot.continue_from, shot.frame))
        named = reference_names(sb, shot)
    for _, sources in named:
        out += [(src[len(GENERATED):], None) for src in sources if src.startswith(GENERATED)]
    return [edge for edge in dict.fromkeys(out) if edge[0] != node]  # a self-reference is reported apart


def nodes(sb: Storyboard) -> list[str]:
    """Every node in document order: the generated images, then the shots in cut order."""
    return [*sb.generated, *dict.fromkeys(shot.id for shot in sb.shots)]


def find_cycle(sb: Storyboard) -> list[str] | None:
    """The first cycle, as the nodes along it with the first repeated at the end (``[a, b, a]``), or None."""
    graph = {node: [up for up, _ in needs(sb, node)] for node in nodes(sb)}
    state: dict[str, int] = {}  # 1 on the path, 2 done
    # Depth first with an explicit stack: a chain of thousands of shots must not reach Python's
    # recursion limit (a traceback for an input file).
    for start in graph:
        if start in state:
            continue
        path: list[str] = [start]
        pending = [iter(graph.get(start, []))]
        state[start] = 1
        while pending:
            up = next(pending[-1], None)
            if up is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(up) == 1:
                return [*path[path.index(up):], up]
            elif up not in state:
                state[up] = 1
                path.append(up)
                pending.append(iter(graph.get(up, [])))
    return None


def order(sb: Storyboard) -> list[str]:
    """The nodes in build order: each after everything it needs, otherwise in document order (images
    first, then shots in cut order). Nodes on a cycle (a validation error) come last."""
    pending = nodes(sb)
    graph = {node: [up for up, _ in needs(sb, node)] for node in pending}
    done: list[str] = []
    placed: set[str] = set()
    while pending:
        ready = next((n for n in pending if all(up in placed or up not in graph for up in graph[n])), None)
        if ready is None:
            return done + pending
        done.append(ready)
        placed.add(ready)
        pending.remove(ready)
    return done


def upstream_closure(sb: Storyboard, wanted: Iterable[str]) -> list[str]:
    """``wanted`` and everything it needs, transitively, in build order."""
    keep: set[str] = set()
    stack = list(wanted)
    while stack:
        node = stack.pop()
        if node in keep:
            continue
        keep.add(node)
        stack += [up for up, _ in needs(sb, node)]
    return [node for node in order(sb) if node in keep]


def dependants(sb: Storyboard, node: str) -> list[str]:
    """Every node compiled (directly or further down) from ``node``'s output, in build order."""
    below: set[str] = set()
    changed = True
    while changed:
        changed = False
        for other in nodes(sb):
            if other not in below and any(up == node or up in below for up, _ in needs(sb, other)):
                below.add(other)
                changed = True
    return [n for n in order(sb) if n in below]


def gated(sb: Storyboard, node: str) -> bool:
    """Whether ``node`` asks for approval before anything uses it (``approve_before_use``)."""
    if is_image_node(node):
        made = sb.generated.get(node)
        return bool(made and made.approve_before_use)
    return any(shot.id == node and shot.approve_before_use for shot in sb.shots)


@dataclass
class CompiledGraph:
    """A variant's jobs compiled in build order, and how to compile one more (a take, a recompile)."""

    sb: Storyboard
    digests: Digests
    variant: str = ""
    artifact: Artifact | None = None
    decisions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    jobs: list[RenderJob] = field(default_factory=list)
    # node → aspect (None: the node's own) → take → job
    by_node: dict[str, dict[str | None, dict[int, RenderJob]]] = field(default_factory=dict)

    def add(self, job: RenderJob) -> None:
        self.jobs.append(job)
        self.by_node.setdefault(job.id.shot, {}).setdefault(job.id.aspect, {})[job.id.take] = job

    def chosen(self, node: str, aspect: str | None) -> RenderJob | None:
        """The upstream render a downstream job uses: the approved take (while the approval holds), else
        take 1; at the downstream's ratio when the upstream renders at it, else at its own."""
        renders = self.by_node.get(node, {})
        own = renders.get(None, {})
        if not own:
            return None
        found = approval(self.decisions, self.variant, node, {t: j.key for t, j in own.items()})
        take = found.approved if found and found.approved in own else 1
        at = renders.get(aspect) if aspect is not None and aspect in renders else own
        return at.get(take) or own.get(take) or own[min(own)]

    def approved(self, node: str) -> bool:
        own = self.by_node.get(node, {}).get(None, {})
        found = approval(self.decisions, self.variant, node, {t: j.key for t, j in own.items()})
        return found is not None and found.approved in own

    def outputs(self, node: str, frame: str | None, aspect: str | None) -> tuple[InputFile | None, Upstream]:
        """The output of ``node`` as a job at ``aspect`` uses it (see :data:`reelmake.core.compile.Outputs`)."""
        job = self.chosen(node, aspect)
        if job is None:  # not compiled (a broken storyboard): a placeholder that never resolves
            return None, Upstream(node, JobId(node, self.variant), "", frame)
        held = (*job.held_by, *((node,) if gated(self.sb, node) and not self.approved(node) else ()))
        upstream = Upstream(node, job.id, job.key, frame, None, tuple(dict.fromkeys(held)))
        if job.provisional or self.artifact is None:
            return None, upstream
        found = self.artifact(job, frame)
        if found is None:
            return None, upstream
        path, digest = found
        return InputFile(digest, path, "image", node), upstream

    def compile(self, node: str, aspect: str | None = None, take: int = 1) -> RenderJob:
        """``node`` at ``aspect`` (None: its own) as take ``take``, from the outputs known now."""
        if is_image_node(node):
            return compile_image(self.sb, self.sb.generated[node], self.digests, variant=self.variant, take=take,
                                 outputs=self.outputs)
        shot = self.sb.shot(node)
        return compile_shot(self.sb, shot, self.digests, aspect or shot.aspect_ratio, variant=self.variant,
                            take=take, outputs=self.outputs)


def compile_graph(sb: Storyboard, digests: Digests, *, variant: str = "", artifact: Artifact | None = None,
                  decisions: Mapping[str, Mapping[str, Any]] | None = None, recorded: Recorded | None = None,
                  only: Iterable[str] | None = None) -> CompiledGraph:
    """Every render of ``sb`` in build order: each generated image, each shot at each of its ratios, as
    the takes the storyboard asks for plus those ``recorded`` in the lock that still belong to it (same
    key). ``artifact`` finds upstream outputs (None: none exist, every dependant is provisional);
    ``decisions`` (the lock's) say which upstream take is approved; ``only`` compiles just those nodes
    and what they need."""
    graph = CompiledGraph(sb, digests, variant, artifact, decisions or {})
    wanted = upstream_closure(sb, only) if only is not None else order(sb)
    for node in wanted:
        if is_image_node(node):
            made = sb.generated.get(node)
            if made is None:
                continue
            backend, aspects, takes = made.backend, [None], 1
        else:
            shot = sb.shot(node)
            backend, takes = shot.backend, shot.takes
            aspects = [None if a == shot.aspect_ratio else a for a in shot_aspects(sb, shot)]
        for aspect in aspects:
            for take in range(1, takes + 1):
                graph.add(graph.compile(node, aspect, take))
            extra = recorded(backend, JobId(node, variant, aspect)) if recorded else {}
            for take, key in sorted(extra.items()):
                if take <= takes:
                    continue
                job = graph.compile(node, aspect, take)
                if job.key == key:  # a take added earlier that still belongs to the node as it stands
                    graph.add(job)
    return graph


def compile_storyboard(sb: Storyboard, digests: Digests, *, variant: str = "", **graph: Any) -> list[RenderJob]:
    """Every render the storyboard asks for, in build order: generated images, then shots in cut order,
    each after what it needs; each shot at its own ratio, plus each ratio a `reframe: render` deliverable
    asks for, each as ``takes`` takes. ``graph``: the keywords of :func:`compile_graph`."""
    return compile_graph(sb, digests, variant=variant, **graph).jobs
