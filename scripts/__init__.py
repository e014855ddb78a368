"""Developer tooling run from the repository root: the local launcher and its AWS emulator."""
