"""The local CDN's verifier (imagepipe_local.signed_urls): URLs signed here with botocore's
CloudFrontSigner, as the API function signs them, and every way CloudFront refuses one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from imagepipe_local.cdn import byte_range, distribution_headers
from imagepipe_local.signed_urls import (
    DENIED,
    LOCAL_KEY_PAIR_ID,
    MISSING_KEY,
    UNKNOWN_KEY,
    CdnKeys,
    canned_policy,
    secret_arn,
)
from imagepipe_local.template import LocalNames, Template

NOW = 1_800_000_000
BASE = "http://127.0.0.1:3000/cdn"
KEY = "images/01J/medium.avif"
KEYS = CdnKeys(rsa.generate_private_key(public_exponent=65537, key_size=2048))
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signed(
    url: str = f"{BASE}/{KEY}",
    *,
    expires: int = NOW + 3600,
    key: rsa.RSAPrivateKey = KEYS.private_key,
    key_pair_id: str = LOCAL_KEY_PAIR_ID,
) -> str:
    """What the API function returns: botocore's signer, canned policy, RSA-SHA1."""

    def rsa_signer(message: bytes) -> bytes:
        return key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - CloudFront's

    signer = CloudFrontSigner(key_pair_id, rsa_signer)
    return signer.generate_presigned_url(url, date_less_than=datetime.fromtimestamp(expires, UTC))


def test_a_url_signed_with_botocore_verifies() -> None:
    # Given a URL signed as the API function signs it
    url = signed()
    # Then it has CloudFront's shape and the verifier accepts it until it expires
    assert url.startswith(f"{BASE}/{KEY}?Expires={NOW + 3600}&Signature=")
    assert url.endswith(f"&Key-Pair-Id={LOCAL_KEY_PAIR_ID}")
    assert KEYS.refusal(url, NOW) is None
    assert KEYS.refusal(url, NOW + 3599) is None


def test_the_stack_signs_as_botocore_does() -> None:
    assert KEYS.sign(f"{BASE}/{KEY}", NOW + 60) == signed(expires=NOW + 60)


def test_the_policy_is_the_one_botocore_builds() -> None:
    signer = CloudFrontSigner(LOCAL_KEY_PAIR_ID, lambda _: b"")
    expected = signer.build_policy(f"{BASE}/{KEY}", datetime.fromtimestamp(NOW, UTC))
    assert canned_policy(f"{BASE}/{KEY}", NOW) == expected.encode()


def test_a_forged_signature_is_refused() -> None:
    # Given a URL signed with another private key, and one whose signature was altered
    forged = signed(key=OTHER)
    good = signed()
    prefix, _, rest = good.partition("Signature=")
    flipped = prefix + "Signature=" + ("A" if rest[0] != "A" else "B") + rest[1:]
    # Then neither verifies
    assert KEYS.refusal(forged, NOW) == DENIED
    assert KEYS.refusal(flipped, NOW) == DENIED


def test_an_expired_url_is_refused() -> None:
    url = signed(expires=NOW)
    # CloudFront's DateLessThan: valid strictly before Expires
    assert KEYS.refusal(url, NOW - 1) is None
    assert KEYS.refusal(url, NOW) == DENIED
    assert KEYS.refusal(url, NOW + 1) == DENIED


def test_a_later_expiry_than_signed_is_refused() -> None:
    url = signed().replace(f"Expires={NOW + 3600}", f"Expires={NOW + 86400}")
    assert KEYS.refusal(url, NOW) == DENIED


def test_a_wrong_or_missing_key_pair_id_is_refused() -> None:
    # Given the right key but another key pair id, and a URL without one
    assert KEYS.refusal(signed(key_pair_id="K3SOMEOTHERKEY"), NOW) == UNKNOWN_KEY
    unsigned = signed().rpartition("&Key-Pair-Id=")[0]
    assert KEYS.refusal(unsigned, NOW) == MISSING_KEY
    assert KEYS.refusal(f"{BASE}/{KEY}", NOW) == MISSING_KEY


def test_a_tampered_path_host_or_query_is_refused() -> None:
    # Given a URL signed for one object
    url = signed()
    # When another object, host or extra parameter is asked for with its signature
    other_object = url.replace("medium.avif", "large.avif")
    other_host = url.replace("127.0.0.1:3000", "localhost:3000")
    extra_parameter = url + "&download=1"
    # Then the policy rebuilt for it is not the one signed
    for tampered in (other_object, other_host, extra_parameter):
        assert KEYS.refusal(tampered, NOW) == DENIED


def test_a_key_outside_images_verifies_only_if_signed_for_it() -> None:
    # The signature check is blind to the prefix: the route refuses keys outside images/
    # itself (test_cdn.py on the stack); here, a path swapped to uploads/ breaks the signature.
    url = signed().replace("/images/", "/uploads/")
    assert KEYS.refusal(url, NOW) == DENIED


def test_a_signature_that_is_not_base64_is_refused() -> None:
    url = signed()
    mangled = url.replace("Signature=", "Signature=%%%")
    assert KEYS.refusal(mangled, NOW) == DENIED
    assert KEYS.refusal(url.replace(f"Expires={NOW + 3600}", "Expires=soon"), NOW) == DENIED


def test_the_key_pair_parameters_name_the_secret() -> None:
    parameters = KEYS.parameters(LocalNames())
    assert parameters["CdnPublicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert parameters["CdnPrivateKeySecretArn"] == secret_arn(LocalNames())
    assert KEYS.private_pem.startswith("-----BEGIN PRIVATE KEY-----")


def test_the_key_pair_is_kept_in_the_data_dir(tmp_path: Path) -> None:
    directory = tmp_path
    first = CdnKeys.load(directory)
    again = CdnKeys.load(directory)
    assert first.public_pem == again.public_pem
    assert (directory / "cdn-signing-key.pem").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=990-5000", (990, 999)),
        ("bytes=1000-", "unsatisfiable"),
        ("bytes=-0", "unsatisfiable"),
        ("bytes=5-1", None),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=a-b", None),
    ],
)
def test_byte_ranges(header: str | None, expected: object) -> None:
    assert byte_range(header, 1000) == expected


def test_the_template_resolves_the_distribution_locally() -> None:
    # Given a template whose function environment names the distribution's domain and key
    template = Template(
        {
            "Parameters": {"CdnPublicKeyPem": {"Type": "String", "Default": ""}},
            "Conditions": {
                "UseSignedUrls": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CdnPublicKeyPem"}, ""]}]}
            },
            "Resources": {
                "ImagesDistribution": {"Type": "AWS::CloudFront::Distribution"},
                "CdnPublicKey": {
                    "Type": "AWS::CloudFront::PublicKey",
                    "Condition": "UseSignedUrls",
                },
            },
        },
        parameters=KEYS.parameters(LocalNames()),
    )
    # Then both resolve (the stack then points them at its own /cdn and key pair id)
    assert template.condition("UseSignedUrls")
    domain = template.resolve({"Fn::Sub": "https://${ImagesDistribution.DomainName}"})
    assert domain == "https://dimagesdistrib.cloudfront.net"
    assert template.resolve({"Fn::GetAtt": ["ImagesDistribution", "Id"]})
    assert template.resolve({"Ref": "CdnPublicKey"})


def test_the_headers_are_the_templates_response_headers_policy() -> None:
    # HSTS is the policy's too, but meaningless over the local http://
    assert distribution_headers(Template.load()) == {
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
    }
