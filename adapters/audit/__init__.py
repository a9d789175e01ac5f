"""The audit edge: verifying the stored log against its chains and the evidence outside the
database (``verify``; each application's chain in ``chains``, the whole log's in ``log_chain``),
call exports checkable offline (``export``), the verification run in the background for
``GET /api/v1/audit/verify`` (``background``), and the evidence itself (``evidence/``: signed tree
heads, witnesses, verification against them, proofs, operator actions)."""
