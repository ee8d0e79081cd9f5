"""Read a bundle's config.json and validate it (schema, then semantic checks)."""

from pyrunc import jsonio
from pyrunc.config import ConfigError
from pyrunc.errors import PyruncError, errno_text
from pyrunc.paths import is_dir, join


def read_json_document(path: str, document: str) -> tuple[object, bytes]:
    """Parse a JSON file; a syntax error names the line and column."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise PyruncError(f"{document} not found: {path}") from None
    except OSError as err:
        raise PyruncError(f"cannot read {path}: {errno_text(err)}") from None
    try:
        return jsonio.loads(raw), raw
    except jsonio.DecodeError as err:
        raise ConfigError("", f"not valid JSON: {err}", document) from None


def load_bundle(bundle: str) -> tuple[dict, bytes]:
    """(config, raw bytes) of BUNDLE/config.json, validated."""
    if not is_dir(bundle):
        raise PyruncError(f"bundle {bundle} does not exist or is not a directory")
    config, raw = read_json_document(join(bundle, "config.json"), "config.json")
    from pyrunc.config.validate import validate_config

    validate_config(config)
    return config, raw  # type: ignore[return-value]  # validated: a JSON object
