"""config.json: our JSON Schema of the runtime-spec 1.2 (schema/), its validation (validate.py:
generated fast check, jsonschema for the error of record, then semantic.py)."""
