"""config.json: our JSON Schema of the runtime-spec 1.2 (schema/), its validation (validate.py:
generated fast check, jsonschema for the error of record, then semantic.py)."""

from pyrunc.errors import PyruncError


class ConfigError(PyruncError):
    """config.json (or a process.json) is invalid. `where` is a JSON path such as
    `process.capabilities.bounding[2]` ('' for the document itself)."""

    def __init__(self, where: str, problem: str, document: str = "config.json") -> None:
        self.where = where
        self.problem = problem
        self.document = document
        place = f"{document}: {where}" if where else document
        super().__init__(f"invalid {place}: {problem}")
