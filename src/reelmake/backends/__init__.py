"""Backend packages, one per host or model runner: ``animatic``, ``wavespeed``, ``local_wan``, and
``remote``, the toolkit every hosted API shares. Each exports a ``plugin`` (see ``reelmake.plugins``)
registered under the ``reelmake.backends`` entry-point group."""
