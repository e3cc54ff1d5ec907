"""Filter graphs built with ffmpeg-python (``import ffmpeg``), run visibly through ``media.run_ffmpeg``.

ffmpeg-python's nodes escape every option value for the graph (file names with quotes, colons or
brackets included), so no filter string is assembled by hand. :func:`run_graph` compiles a graph to
an argument list and runs it with :func:`reelmake.media.run_ffmpeg`, which logs the exact command
(``-v``) a user may paste into a shell. Apart from ``media`` so that modules that only run ffmpeg
import nothing more.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import ffmpeg
from ffmpeg import _run as _ffmpeg_run
from ffmpeg.dag import topo_sort
from ffmpeg.nodes import FilterableStream, FilterNode, GlobalNode, InputNode, Node, OutputNode, Stream

from .media import PROTOCOLS, demuxer_for, run_ffmpeg


class _Unique:
    """Identity instead of ffmpeg-python's structural equality for inputs and sources. ffmpeg-python
    merges equal nodes, so the same file opened twice (two shots with one clip, a picture used as
    background and thumbnail) would become one input whose output feeds two consumers, which it
    refuses; opened once per use, as a hand-written command would, every chain stays its own."""

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


class _InputNode(_Unique, InputNode):
    pass


class _SourceNode(_Unique, FilterNode):
    """A source filter (``color``, ``anullsrc``, ``aevalsrc``…) inside the graph: a filter node without
    inputs, which ffmpeg-python's FilterNode does not allow; its options are escaped the same way."""

    def __init__(self, name: str, kwargs: dict[str, object]) -> None:
        Node.__init__(self, stream_spec=None, name=name, incoming_stream_types={FilterableStream},
                      outgoing_stream_type=FilterableStream, min_inputs=0, max_inputs=0, args=[], kwargs=kwargs)


def input_stream(filename: str, **options: object) -> Stream:
    """``ffmpeg.input(filename, **options)``, opened once per call (see :class:`_Unique`); ``f`` is the format."""
    if "f" in options:
        options["format"] = options.pop("f")
    return _InputNode("input", kwargs={**options, "filename": filename}).stream()


def file_input(path: Path, kind: str | None = None, **options: object) -> Stream:
    """ffmpeg-python input for a file from a project, pinned as :func:`input_args` pins it (demuxer by
    extension, file protocol only). ``options`` are input options (``ss``, ``t``, ``stream_loop``…)."""
    fmt = demuxer_for(path, kind)
    if fmt:
        options["f"] = fmt
    return input_stream(f"file:{Path(path).resolve()}", protocol_whitelist=PROTOCOLS, **options)


def source(name: str, **options: object) -> Stream:
    """The output of source filter ``name`` with ``options`` (e.g. ``source("anullsrc", r=48000)``)."""
    return _SourceNode(name, options).stream()


def graph_args(*outputs: Stream) -> list[str]:
    """The ffmpeg arguments (without ``ffmpeg``) for the graph ending in ``outputs``.

    ffmpeg-python's ``get_args``, except that a graph made only of source filters (a slate, a
    colour card) needs no input file."""
    stream = outputs[0] if len(outputs) == 1 else ffmpeg.merge_outputs(*outputs)
    nodes, outgoing = topo_sort([stream.node])
    inputs = [n for n in nodes if isinstance(n, InputNode)]
    names = {(node, None): str(i) for i, node in enumerate(inputs)}
    filters = _ffmpeg_run._get_filter_arg([n for n in nodes if isinstance(n, FilterNode)], outgoing, names)
    args = [arg for node in inputs for arg in _ffmpeg_run._get_input_args(node)]
    if filters:
        args += ["-filter_complex", filters]
    args += [arg for n in nodes if isinstance(n, OutputNode) for arg in _ffmpeg_run._get_output_args(n, names)]
    return args + [arg for n in nodes if isinstance(n, GlobalNode) for arg in _ffmpeg_run._get_global_args(n)]


def run_graph(*outputs: Stream, what: str) -> subprocess.CompletedProcess:
    """Compile the graph ending in ``outputs`` and run it with :func:`run_ffmpeg` (logged at INFO)."""
    return run_ffmpeg(graph_args(*outputs), what=what)
