"""Sub-commands of the medfuse CLI (one module each)."""
