"""session-features: Agno sessions in MongoDB → one row of features per session."""
