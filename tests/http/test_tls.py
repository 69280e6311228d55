"""Pinned https: the name goes in SNI and the certificate is verified against the name."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pricealert.http import GuardedClient, TLSFailure
from pricealert_ops.devtools.shop import Page, Shop, StaticResolver


def _issue(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throw-away CA and a certificate for shop.test: (server context, client context)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PriceAlert test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shop.test")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("shop.test")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp / "leaf.pem", tmp / "leaf.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client


@pytest.fixture
async def tls_shop(tmp_path: Path) -> AsyncIterator[tuple[Shop, ssl.SSLContext, list[str]]]:
    server_context, client_context = _issue(tmp_path)
    seen_sni: list[str] = []

    def record_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        seen_sni.append(name or "")

    server_context.sni_callback = record_sni
    async with Shop() as shop:
        await shop.listen("127.0.0.2", ssl_context=server_context)
        shop.serve("/p", Page.html("secure"))
        yield shop, client_context, seen_sni


async def test_https_to_a_pinned_address_sends_sni_and_verifies_the_name(
    tls_shop: tuple[Shop, ssl.SSLContext, list[str]],
) -> None:
    shop, client_context, seen_sni = tls_shop
    port = shop.netloc().rsplit(":", 1)[1]
    resolver = StaticResolver({"shop.test": ["127.0.0.2"]})
    async with GuardedClient(
        allowed_hosts=["shop.test"], resolver=resolver, ssl_context=client_context
    ) as client:
        result = await client.get(f"https://shop.test:{port}/p")
    assert (result.body, result.address) == (b"secure", "127.0.0.2")
    assert seen_sni == ["shop.test"]
    assert shop.requests[0].headers["host"] == f"shop.test:{port}"


async def test_certificate_for_another_name_is_a_tls_error(
    tls_shop: tuple[Shop, ssl.SSLContext, list[str]],
) -> None:
    shop, client_context, _ = tls_shop
    port = shop.netloc().rsplit(":", 1)[1]
    resolver = StaticResolver({"other.test": ["127.0.0.2"]})
    async with GuardedClient(
        allowed_hosts=["other.test"], resolver=resolver, ssl_context=client_context
    ) as client:
        with pytest.raises(TLSFailure) as failed:
            await client.get(f"https://other.test:{port}/p")
    assert failed.value.code == "tls_error"
    assert shop.requests == []
