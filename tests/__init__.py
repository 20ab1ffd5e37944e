"""The test suite of nlp-theming (a package, so its helpers import without path edits)."""
