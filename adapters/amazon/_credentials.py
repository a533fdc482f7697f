"""LWA credentials from the environment or a secrets file, wrapped so they cannot leak into logs."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CredentialsError",
    "LwaCredentials",
    "Secret",
    "SecretRedactingFilter",
    "load_credentials",
]

# The client library's own environment variable names.
ENV_NAMES = {
    "refresh_token": "SP_API_REFRESH_TOKEN",
    "lwa_app_id": "LWA_APP_ID",
    "lwa_client_secret": "LWA_CLIENT_SECRET",
}

log = logging.getLogger("sortyard.adapters.amazon")


class CredentialsError(LookupError):
    """A credential is missing or the secrets file cannot be used (the message never holds a
    value)."""


class Secret:
    """A string that prints as *** everywhere (repr, str, f-strings, logging); `reveal()` to use
    it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class LwaCredentials:
    refresh_token: Secret
    lwa_app_id: Secret
    lwa_client_secret: Secret

    def for_client(self) -> dict[str, str]:
        """The `credentials=` dict python-amazon-sp-api takes."""
        return {
            "refresh_token": self.refresh_token.reveal(),
            "lwa_app_id": self.lwa_app_id.reveal(),
            "lwa_client_secret": self.lwa_client_secret.reveal(),
        }

    def secrets(self) -> list[str]:
        return [s.reveal() for s in (self.refresh_token, self.lwa_app_id, self.lwa_client_secret)]


def _read_secrets_file(path: Path) -> dict[str, str]:
    """JSON object, or KEY=VALUE lines; keys are either our names or the environment names."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CredentialsError(f"cannot read secrets file {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("secrets file %s is readable by others; chmod 600 it", path)
    values: dict[str, str] = {}
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            raw = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise CredentialsError(f"{path}:{exc.lineno}: not valid JSON") from exc
        values = {str(k): str(v) for k, v in raw.items()}
    else:
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise CredentialsError(f"{path}:{number}: expected KEY=VALUE")
            values[key.strip()] = value.strip().strip('"').strip("'")
    by_env = {env: ours for ours, env in ENV_NAMES.items()}
    return {by_env.get(k, k): v for k, v in values.items()}


def load_credentials(
    environ: Mapping[str, str] | None = None, secrets_file: str | Path | None = None
) -> LwaCredentials:
    """The secrets file wins over the environment, key by key."""
    environ = os.environ if environ is None else environ
    found = {ours: environ.get(env, "") for ours, env in ENV_NAMES.items()}
    if secrets_file:
        for key, value in _read_secrets_file(Path(secrets_file)).items():
            if key in found and value:
                found[key] = value
    missing = [ENV_NAMES[k] for k, v in found.items() if not v]
    if missing:
        raise CredentialsError(
            f"missing LWA credential(s) {', '.join(missing)}: set them in the environment "
            "or pass --secrets-file"
        )
    return LwaCredentials(
        *(Secret(found[k]) for k in ("refresh_token", "lwa_app_id", "lwa_client_secret"))
    )


class SecretRedactingFilter(logging.Filter):
    """Belt and braces: replaces any secret value in a formatted log record with ***."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Real LWA values are long; redacting a 1-character test value would garble every line.
        self._secrets = [s for s in secrets if len(s) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for secret in self._secrets:
            redacted = redacted.replace(secret, "***")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
