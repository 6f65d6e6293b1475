"""Token verification settings: which algorithms, which keys, which audience and issuer.

Built once at start from Settings; every unsafe combination (HS256 outside development,
HS256 mixed with asymmetric algorithms, short secrets or RSA keys, private keys where
public ones belong) is refused here so the verifier never has to decide at request time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.utils import is_pem_format, is_ssh_key

from sheen.errors import ConfigError

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
SYMMETRIC_ALGORITHMS = frozenset({"HS256"})
# Environments where a shared HS256 secret is tolerated.
DEVELOPMENT_ENVIRONMENTS = frozenset({"development", "ci", "test", "local"})
MIN_SECRET_BYTES = 32
MIN_RSA_BITS = 2048
_CURVE_ALG = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class TokenConfigError(ConfigError):
    """The token settings are unusable or unsafe (refused at start, never at request time)."""


@dataclass(frozen=True)
class VerificationKey:
    """One configured key and the algorithms it may verify."""

    kid: str | None
    key: Any = field(repr=False)
    algorithms: frozenset[str]


def _algorithms_for(key: Any) -> frozenset[str]:
    if isinstance(key, bytes):
        return SYMMETRIC_ALGORITHMS
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise TokenConfigError(f"RSA public key is shorter than {MIN_RSA_BITS} bits")
        return frozenset(a for a in ASYMMETRIC_ALGORITHMS if a[:2] in ("RS", "PS"))
    if isinstance(key, ec.EllipticCurvePublicKey):
        alg = _CURVE_ALG.get(key.curve.name)
        return frozenset({alg}) if alg else frozenset()
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return frozenset({"EdDSA"})
    raise TokenConfigError("configured key is not a public key of a supported type")


def _pem_public_key(value: str) -> Any:
    """PEM text, or the path of a file holding it."""
    try:
        text = value if value.lstrip().startswith("-----BEGIN") else Path(value).read_text()
    except (OSError, ValueError):
        raise TokenConfigError("SHEEN_JWT_PUBLIC_KEY is not PEM text or a readable file") from None
    if "PRIVATE KEY" in text:
        raise TokenConfigError("SHEEN_JWT_PUBLIC_KEY holds a private key; give the public key")
    try:
        return load_pem_public_key(text.encode())
    except ValueError:
        raise TokenConfigError("SHEEN_JWT_PUBLIC_KEY is not a PEM public key") from None


def _jwk_public_key(jwk: Mapping[str, Any]) -> Any:
    if "d" in jwk or jwk.get("kty") == "oct":
        raise TokenConfigError("JWKS must hold public keys only (no private or oct keys)")
    parsers: dict[str, Any] = {"RSA": RSAAlgorithm, "EC": ECAlgorithm, "OKP": OKPAlgorithm}
    parser = parsers.get(jwk.get("kty", ""))
    if parser is None:
        raise TokenConfigError("JWKS key has an unsupported kty")
    try:
        return parser.from_jwk(dict(jwk))
    except (jwt.InvalidKeyError, ValueError, KeyError, TypeError):
        raise TokenConfigError("JWKS key could not be parsed") from None


def load_jwks(path: str | Path, algorithms: Iterable[str]) -> tuple[VerificationKey, ...]:
    """Read a JWKS file (`{"keys": [...]}` or `{kid: jwk}`) into kid-bound keys."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        raise TokenConfigError("SHEEN_JWT_JWKS_FILE is not a readable JSON file") from None
    if isinstance(data, dict) and isinstance(data.get("keys"), list):
        entries = [(k.get("kid"), k) for k in data["keys"] if isinstance(k, dict)]
    elif isinstance(data, dict):
        entries = [(kid, {**k, "kid": kid}) for kid, k in data.items() if isinstance(k, dict)]
    else:
        raise TokenConfigError("SHEEN_JWT_JWKS_FILE must be a JWKS object")
    allowed = frozenset(algorithms)
    keys = []
    for kid, jwk in entries:
        if not isinstance(kid, str) or not kid:
            raise TokenConfigError("every JWKS key needs a kid")
        if jwk.get("use", "sig") != "sig" or "verify" not in jwk.get("key_ops", ["verify"]):
            continue  # encryption keys never verify signatures
        key = _jwk_public_key(jwk)
        algs = _algorithms_for(key) & allowed
        if "alg" in jwk:
            algs &= {jwk["alg"]}
        keys.append(VerificationKey(kid=kid, key=key, algorithms=algs))
    return tuple(keys)


def _secret_value(value: Any) -> str | None:
    """Accept plain strings and pydantic SecretStr alike."""
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else value


@dataclass(frozen=True)
class TokenConfig:
    """Pinned verification settings; construction refuses unsafe combinations."""

    algorithms: tuple[str, ...]
    keys: tuple[VerificationKey, ...]
    audience: str
    issuer: str
    leeway: int = 60
    environment: str = "development"

    def __post_init__(self) -> None:
        # Normalise so a list or an Environment enum given directly behaves like from_values.
        object.__setattr__(self, "algorithms", tuple(self.algorithms))
        object.__setattr__(self, "keys", tuple(self.keys))
        env = str(getattr(self.environment, "value", self.environment)).lower()
        object.__setattr__(self, "environment", env)
        algs = set(self.algorithms)
        if not algs:
            raise TokenConfigError("SHEEN_JWT_ALGORITHMS is empty")
        unknown = algs - ASYMMETRIC_ALGORITHMS - SYMMETRIC_ALGORITHMS
        if unknown:
            raise TokenConfigError(f"SHEEN_JWT_ALGORITHMS has unsupported {sorted(unknown)}")
        if algs & SYMMETRIC_ALGORITHMS and algs & ASYMMETRIC_ALGORITHMS:
            raise TokenConfigError("SHEEN_JWT_ALGORITHMS mixes HS256 with asymmetric algorithms")
        symmetric = bool(algs & SYMMETRIC_ALGORITHMS)
        if symmetric and self.environment not in DEVELOPMENT_ENVIRONMENTS:
            raise TokenConfigError(
                f"HS256 secrets are for development only, not {self.environment}"
            )
        if not self.audience or not self.issuer:
            raise TokenConfigError("SHEEN_JWT_AUDIENCE and SHEEN_JWT_ISSUER are required")
        if not 0 <= self.leeway <= 300:
            raise TokenConfigError("token leeway must be between 0 and 300 seconds")
        if not self.keys or not any(k.algorithms & algs for k in self.keys):
            raise TokenConfigError("no configured key can verify any of SHEEN_JWT_ALGORITHMS")
        kids = [k.kid for k in self.keys]
        if len(set(kids)) != len(kids):
            raise TokenConfigError("JWKS has duplicate kids")
        for k in self.keys:
            if isinstance(k.key, bytes) != symmetric:
                raise TokenConfigError("key type does not match SHEEN_JWT_ALGORITHMS")
            if isinstance(k.key, bytes) and (is_pem_format(k.key) or is_ssh_key(k.key)):
                raise TokenConfigError("SHEEN_JWT_SECRET looks like a public key, not a secret")
            if isinstance(k.key, bytes) and len(k.key) < MIN_SECRET_BYTES:
                raise TokenConfigError(
                    f"SHEEN_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"
                )

    @classmethod
    def from_values(
        cls,
        *,
        algorithms: str | Sequence[str],
        audience: str,
        issuer: str,
        environment: str,
        public_key: str | None = None,
        jwks_file: str | Path | None = None,
        secret: Any = None,
        leeway: int = 60,
    ) -> TokenConfig:
        """Build from plain settings values: exactly one key source must be given."""
        if isinstance(algorithms, str):
            algorithms = [a for a in re.split(r"[,\s]+", algorithms) if a]
        algs = tuple(algorithms)
        env = str(getattr(environment, "value", environment)).lower()
        secret_text = _secret_value(secret)
        sources = [s for s in (public_key, jwks_file, secret_text) if s]
        if len(sources) != 1:
            raise TokenConfigError(
                "set exactly one of SHEEN_JWT_PUBLIC_KEY, SHEEN_JWT_JWKS_FILE, SHEEN_JWT_SECRET"
            )
        keys: tuple[VerificationKey, ...]
        if secret_text:
            keys = (VerificationKey(None, secret_text.encode(), SYMMETRIC_ALGORITHMS),)
        elif public_key:
            key = _pem_public_key(public_key)
            keys = (VerificationKey(None, key, _algorithms_for(key) & set(algs)),)
        else:
            keys = load_jwks(str(jwks_file), algs)
        return cls(algs, keys, audience, issuer, leeway, env)

    @classmethod
    def from_settings(cls, settings: Any) -> TokenConfig:
        """Read the `jwt_*` fields and `env` of the fleet Settings object."""
        return cls.from_values(
            algorithms=settings.jwt_algorithms,
            public_key=settings.jwt_public_key,
            jwks_file=settings.jwt_jwks_file,
            secret=settings.jwt_secret,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            environment=settings.env,
        )
