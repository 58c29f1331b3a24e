"""RSA keys of runners, in the shapes the official runner stores them.

The runner keeps its private key as `.credentials_rsaparams` (.NET RSAParameters: big-endian
integers, base64); the server keeps only the public key, as PEM, to verify what it signs.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runnerhub.runner_config import rsa_parameters

KEY_SIZE = 2048


@dataclass(frozen=True, slots=True)
class RunnerKey:
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> RunnerKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE))

    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def rsa_parameters(self) -> dict[str, str]:
        return rsa_parameters(self.private_key)
