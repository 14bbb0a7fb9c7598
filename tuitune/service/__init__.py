"""The core's doors for the faces: `runs` (read and act on runs) and `jobs` (the heavy commands,
evaluate, merge, upload and export, run as child processes of the CLI)."""
