"""Fixtures of the data tests. ``miniature.py`` beside this file builds public corpora in
their published layouts; pytest puts this folder on ``sys.path``, so tests below import it."""
