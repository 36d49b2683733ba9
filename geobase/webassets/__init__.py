"""Web assets vendored for offline maps and reports (see README.md)."""
