"""Request bodies of the webhook endpoints, checked as GitHub's schemas declare them (422
with the messages of api/bodies.py) before anything is written."""

from __future__ import annotations

from typing import Any

from runnerhub.api.bodies import _invalid, _required, _string_list, json_object
from runnerhub.domain.webhooks import MAX_EVENTS, UNSET, HookChange
from runnerhub.errors import ValidationFailed

CONFIG_KEYS = frozenset({"url", "content_type", "secret", "insecure_ssl", "username", "password"})
CREATE_KEYS = frozenset({"name", "config", "events", "active"})
UPDATE_KEYS = frozenset({"config", "events", "add_events", "remove_events", "active"})
# What a config the hook PATCH replaces falls back to (GitHub: "the secret will be overwritten").
CONFIG_DEFAULTS = {"content_type": "form", "insecure_ssl": "0", "secret": None}


def hook_create(raw: bytes) -> HookChange:
    body = _object(json_object(raw), CREATE_KEYS, "")
    name = _required(body, "name")
    if not isinstance(name, str):
        raise _invalid("name", name, "string")
    if name != "web":  # GitHub: "This parameter only accepts the value `web`."
        error = {"resource": "Hook", "code": "custom", "field": "name",
                 "message": f"Name {name} is not a valid hook name"}  # fmt: skip
        raise ValidationFailed("Validation Failed", errors=[error])
    change = HookChange()
    _config(_object(_required(body, "config"), CONFIG_KEYS, "config"), change)
    _common(body, change)
    return change


def hook_update(raw: bytes) -> HookChange:
    body = _object(json_object(raw), UPDATE_KEYS, "")
    change = HookChange()
    if "config" in body:
        config = _object(body["config"], CONFIG_KEYS, "config")
        _config({**CONFIG_DEFAULTS, **config}, change)
    _common(body, change)
    for key in ("add_events", "remove_events"):
        if key in body:
            setattr(change, key, _events(body[key], key))
    return change


def config_update(raw: bytes) -> HookChange:
    change = HookChange()
    _config(_object(json_object(raw), CONFIG_KEYS, ""), change)
    return change


def _common(body: dict[str, Any], change: HookChange) -> None:
    if "events" in body:
        change.events = _events(body["events"], "events")
    if "active" in body:
        if type(body["active"]) is not bool:
            raise _invalid("active", body["active"], "boolean")
        change.active = body["active"]


def _config(config: dict[str, Any], change: HookChange) -> None:
    for key in ("url", "content_type"):
        if key in config and not isinstance(config[key], str):
            raise _invalid(f"config/{key}", config[key], "string")
    secret = config.get("secret")
    if secret is not None and not isinstance(secret, str):
        raise _invalid("config/secret", secret, "string")
    change.url = config.get("url", UNSET)
    content_type = config.get("content_type", UNSET)
    if content_type is not UNSET and content_type not in ("json", "form"):
        raise _invalid_config("content_type", "must be json or form")
    change.content_type = content_type
    change.secret = config.get("secret", UNSET)
    if "insecure_ssl" in config:
        change.insecure_ssl = _insecure_ssl(config["insecure_ssl"])


def _insecure_ssl(value: Any) -> str:
    # A string or a number, as the schema's oneOf: "0"/0 verifies certificates, "1"/1 not.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _invalid("config/insecure_ssl", value, "string")
    text = str(int(value)) if isinstance(value, int | float) and value in (0, 1) else str(value)
    if text not in ("0", "1"):
        raise _invalid_config("insecure_ssl", "must be 0 or 1")
    return text


def _events(value: Any, key: str) -> list[str]:
    return _string_list(value, key, min_items=0, max_items=MAX_EVENTS)


def _object(value: Any, allowed: frozenset[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(where or "body", value, "object")
    unknown = sorted(set(value) - allowed)
    if unknown and where != "config":  # additionalProperties: false (config's is open)
        raise ValidationFailed(
            f"Invalid request.\n\nNo subschema in \"anyOf\" matched.\n"
            f"{unknown[0]} is not a permitted key."
        )
    return value


def _invalid_config(key: str, message: str) -> ValidationFailed:
    error = {"resource": "Hook", "code": "invalid", "field": key, "message": f"{key} {message}"}
    return ValidationFailed("Validation Failed", errors=[error])
