"""Nested ``--config`` overrides typed by the workflow's schema before it is validated.

Snakemake hands a nested override such as ``--config git='{remote: origin, push: true}'`` over
with every value a string (``{'remote': 'origin', 'push': 'true'}``), and it refuses dotted keys
(``kaggle.check_quota=false``) outright.  :func:`coerce` walks the configuration with the JSON
schema and turns each string into what the schema asks for at that place (boolean, integer,
number, null, array, object), so the nested YAML form works as written; a value that cannot be
read as that type is left alone for the validation to name.  Free-form objects (an algorithm's
hyperparameters) get YAML's reading of each string, numbers like ``3e-4`` included.
"""

from __future__ import annotations

from typing import Any

_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not ref:
        return schema
    node: Any = root
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def _scalar(text: str) -> Any:
    """YAML's reading of a string, with exponent floats (``3e-4``) read as numbers too."""
    import yaml

    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _as(text: str, kind: str) -> tuple[bool, Any]:
    low = text.strip().lower()
    if kind == "boolean" and low in _TRUE | _FALSE:
        return True, low in _TRUE
    if kind == "null" and low in ("null", "~", "none", ""):
        return True, None
    if kind in ("integer", "number"):
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return False, None
            if kind == "integer":
                return value.is_integer(), int(value) if value.is_integer() else None
        return True, value
    if kind in ("array", "object"):
        value = _scalar(text)
        return isinstance(value, list if kind == "array" else dict), value
    if kind == "string":
        return True, text
    return False, None


def coerce(value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """``value`` with its strings typed as ``schema`` (a JSON schema; ``root`` resolves ``$ref``)."""
    root = root or schema
    schema = _resolve(schema, root)
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    if isinstance(value, str) and kinds:
        if "null" in kinds and _as(value, "null")[0]:
            value = None
        elif "string" not in kinds:
            for kind in kinds:
                ok, typed = _as(value, kind)
                if ok:
                    value = typed
                    break
    elif isinstance(value, str):
        value = _scalar(value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        free = not props and extra is None  # any keys, any values: YAML's reading of each string
        out = {}
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else ({} if free else None))
            out[key] = coerce(item, sub, root) if sub is not None else item
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [coerce(item, schema["items"], root) for item in value]
    return value
