"""What the API and the pages share: app class, caller identity and audit, uploads, errors."""
