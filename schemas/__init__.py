"""marshmallow schemas: the dossier wire format (versioned) and the API payloads."""
