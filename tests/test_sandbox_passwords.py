"""The sandbox's secret hashing: scrypt for people's passwords, SHA-256 for generated secrets."""

from __future__ import annotations

from graphpost.sandbox.passwords import check_secret, hash_generated_secret, hash_password


def test_each_kind_checks_its_own_secret_and_nothing_else() -> None:
    for made in (hash_password("correct horse"), hash_generated_secret("correct horse")):
        assert check_secret("correct horse", made)
        assert not check_secret("correct horsf", made)
        assert "correct horse" not in made
    assert hash_password("x").startswith("scrypt$")
    assert hash_generated_secret("x").startswith("sha256$")
    assert hash_generated_secret("x") != hash_generated_secret("x")  # salted


def test_a_stored_value_of_no_known_kind_matches_nothing() -> None:
    assert not check_secret("x", None)
    assert not check_secret("x", "")
    assert not check_secret("x", "md5$c2FsdA==$ZGlnZXN0")
    assert not check_secret("x", "plain text")
