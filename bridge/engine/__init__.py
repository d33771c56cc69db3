"""The engine: runs over the flows, one file through one flow, and an operator's decisions.

``runner`` (a pass; the lock) -> ``pipeline`` (one file: the state machine's entry point and
failure boundary) -> ``taking`` (claim and download), ``transform`` (decode, steps, render),
``outputs`` (plan and write), ``moves`` (archive, quarantine). ``watch`` runs passes for
ever, ``replay`` processes a file again, ``operator`` approves, retries and rejects. The
states themselves live in :mod:`bridge.states`. Nothing here imports the CLI.
"""
