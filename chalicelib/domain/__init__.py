"""Pure domain: models, states, errors and ports. No I/O and no third-party imports."""
