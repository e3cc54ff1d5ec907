"""The pure core: a storyboard document validated (``document``: positional YAML, ``schema``,
``rules``, ``references`` judged on inspected facts), compiled to jobs with their render keys
(``compile``), and planned against the lock (``plan``). Nothing here touches the disk or the
network beyond the document text it is given."""
