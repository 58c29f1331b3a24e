"""RSA keys of runners, in the shapes the official runner stores them.

The runner keeps its private key as `.credentials_rsaparams` (.NET RSAParameters: big-endian
integers, base64); the server keeps only the public key, as PEM, to verify what it signs.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

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
        numbers = self.private_key.private_numbers()
        public = numbers.public_numbers
        return {
            "d": _b64(numbers.d),
            "dp": _b64(numbers.dmp1),
            "dq": _b64(numbers.dmq1),
            "exponent": _b64(public.e),
            "inverseQ": _b64(numbers.iqmp),
            "modulus": _b64(public.n),
            "p": _b64(numbers.p),
            "q": _b64(numbers.q),
        }


def _b64(value: int) -> str:
    return base64.b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).decode()
