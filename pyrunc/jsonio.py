"""JSON without `import json`.

`json` imports `re` (and with it enum and functools), which costs more than the rest of
`pyrunc state` put together. The C accelerator `_json` parses and serialises on its own;
only the wiring that `json` adds around it is reproduced here.
"""


def _parse_constant(name: str) -> float:
    raise ValueError(f"invalid JSON constant {name}")


_codec: tuple | None = None


def json_codec() -> tuple:
    """(scanner, compact encoder, string encoder) of `_json`, made on first use: loading `_json`,
    an extension module, costs a command 0.15-0.2 ms here, and the hot verbs need none of it when
    they read their state through its cache (pyrunc/store.py) and `state` writes plain values."""
    global _codec
    if _codec is None:
        import _json

        # What json.decoder's scanner reads of its decoder, held by a module object: creating a
        # class costs more than the rest of this module.
        context = type(_json)("pyrunc.jsonio's scanner context")
        vars(context).update(
            strict=True,
            object_hook=None,
            object_pairs_hook=None,
            parse_float=float,
            parse_int=int,
            parse_constant=_parse_constant,
            memo={},
        )
        encode_string = _json.encode_basestring_ascii
        _codec = (
            _json.make_scanner(context),  # type: ignore[arg-type]  # duck-typed, as json.decoder's
            _json.make_encoder(None, _reject, encode_string, None, ":", ",", False, False, False),
            encode_string,
        )
    return _codec


_WHITESPACE = " \t\n\r"


class DecodeError(ValueError):
    """Malformed JSON; `pos` is the character offset, `line`/`col` are 1-based."""

    def __init__(self, problem: str, doc: str, pos: int) -> None:
        self.pos = pos
        self.line = doc.count("\n", 0, pos) + 1
        self.col = pos - doc.rfind("\n", 0, pos)
        super().__init__(f"{problem} at line {self.line} column {self.col}")


def _skip_ws(doc: str, pos: int) -> int:
    end = len(doc)
    while pos < end and doc[pos] in _WHITESPACE:
        pos += 1
    return pos


def loads(doc: str | bytes):  # -> any JSON value (no `typing` import on the hot path)
    if isinstance(doc, (bytes, bytearray)):
        try:
            doc = doc.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DecodeError("not UTF-8", "", 0) from err
    if doc.startswith("\ufeff"):
        doc = doc[1:]
    pos = _skip_ws(doc, 0)
    scan = json_codec()[0]
    try:
        value, pos = scan(doc, pos)
    except Exception:
        # _json can only raise its error once json.decoder is imported: do that now.
        _raise_precise_error(doc)
    pos = _skip_ws(doc, pos)
    if pos != len(doc):
        raise DecodeError("extra data after the JSON value", doc, pos)
    return value


def _raise_precise_error(doc: str) -> None:
    import json

    try:
        json.loads(doc)
    except json.JSONDecodeError as err:
        raise DecodeError(err.msg, doc, err.pos) from None
    except RecursionError:
        raise DecodeError("nested too deeply", doc, 0) from None
    except ValueError as err:  # e.g. an integer with more digits than Python converts
        raise DecodeError(str(err).split(";")[0], doc, 0) from None
    raise DecodeError("invalid JSON", doc, 0)


def _reject(obj: object) -> object:
    raise TypeError(f"cannot serialise {type(obj).__name__} as JSON")


def dumps(obj: object) -> str:
    """Compact JSON, ASCII-escaped, key order preserved."""
    return "".join(json_codec()[1](obj, 0))


def _plain(text: str) -> bool:
    """Is `text` its own JSON string body (printable ASCII, no quote nor backslash)?"""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def _string(text: str) -> str:
    return f'"{text}"' if _plain(text) else json_codec()[2](text)


def _leaf(obj: object) -> str:
    """dumps(obj) of what dumps_pretty does not lay out, without _json for what is written as it
    is: null, true, false, an int, a plain string, an empty object or array (as a rule, all of
    `state`'s output)."""
    if obj is None:
        return "null"
    if obj is True or obj is False:
        return "true" if obj else "false"
    if type(obj) is int:
        return int.__repr__(obj)
    if type(obj) is str:
        return _string(obj)
    if type(obj) is dict:
        return "{}"  # (dumps_pretty lays out a non-empty one)
    if type(obj) is list:
        return "[]"
    return dumps(obj)


def dumps_pretty(obj: object, indent: str = "  ", level: int = 0) -> str:
    """Indented JSON in the layout Go's json.MarshalIndent gives (runc's `state`)."""
    pad = indent * (level + 1)
    if isinstance(obj, dict) and obj:
        items = [f"{pad}{_string(str(k))}: {dumps_pretty(v, indent, level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent * level + "}"
    if isinstance(obj, list) and obj:
        items = [pad + dumps_pretty(v, indent, level + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + indent * level + "]"
    return _leaf(obj)
