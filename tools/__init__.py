"""Developer tools that are not part of the installed ``mlgate`` package (run from the repo root)."""
