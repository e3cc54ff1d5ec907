"""Campaigns: one storyboard template × a matrix or table of variants (SPEC §6).

This package turns a campaign file into rendered storyboard texts (``load.expand_campaign``), in a
Jinja2 sandbox confined to the campaign's folder (``template``), over a CI-style matrix or a CSV
table (``expand``). Validating, planning and rendering the variants is the same pipeline as for a
single storyboard.
"""
