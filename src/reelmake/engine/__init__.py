"""The engine: everything with effects between a validated storyboard and its clips.

``project`` (the one pipeline: load → plan → render → cut → status), ``loading`` and ``inspect`` (the
file's media and hashes, memoised in ``memo``), ``orchestrator`` (async rendering, safe with money),
``budget``, ``journal``, ``lock``, ``clips``, ``workspace`` (the owner of ``.reelmake/``) and
``assemble`` (storyboards to the editor's cut specs).
"""
