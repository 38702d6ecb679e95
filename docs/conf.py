"""Sphinx configuration of the mplib documentation (built by ``make docs``, offline).

The figure notebooks are shown with the outputs of the last ``make figures`` build
(``nb_execution_mode = "off"``): the docs build never executes a notebook.
"""

import mplib

project = "mplib"
author = "mplib contributors"
release = mplib.__version__
extensions = ["myst_nb", "numpydoc", "sphinx.ext.autodoc"]
nb_execution_mode = "off"  # outputs come from the executed notebooks of figures/<preset>/
nb_merge_streams = True
myst_enable_extensions = ["dollarmath"]
numpydoc_show_class_members = False
numpydoc_validation_checks: set = set()
autodoc_default_options = {"members": True, "undoc-members": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
exclude_patterns = ["_build", "build.py", "Thumbs.db", ".DS_Store"]
html_theme = "alabaster"  # ships with Sphinx: no theme assets fetched from anywhere
html_title = "mplib"
suppress_warnings = ["mystnb.unknown_mime_type"]
