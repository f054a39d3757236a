"""session-features: Agno sessions in MongoDB → one row of features per session."""

import logging


class _DropImportNoise(logging.Filter):
    # Beam warns at import about Google Cloud clients this pipeline never uses.
    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


logging.getLogger().addFilter(_DropImportNoise())
