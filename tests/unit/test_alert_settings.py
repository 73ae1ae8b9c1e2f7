"""Unit tests of the alert settings: addresses per département or for the hub operators."""

from __future__ import annotations

import pytest

from mdph_bridge.config import load_config, parse_recipients, validate_config
from mdph_bridge.domain.sealing import generate_staging_key
from mdph_bridge.domain.signing import generate_hub_key

pytestmark = pytest.mark.unit


def test_addresses_per_departement_and_for_the_hub() -> None:
    parsed = parse_recipients(
        " 59=a@mdph59.fr b@mdph59.fr ; 62=c@mdph62.fr,d@mdph62.fr; plateforme=ops@hub.fr"
    )
    assert parsed == {
        "59": ("a@mdph59.fr", "b@mdph59.fr"),
        "62": ("c@mdph62.fr", "d@mdph62.fr"),
        "plateforme": ("ops@hub.fr",),
    }
    assert parse_recipients("") == {}


@pytest.mark.parametrize("text", ["59", "59=", "=a@b.fr", "59=pas-une-adresse"])
def test_unreadable_addresses_stop_the_start_with_a_french_message(text: str) -> None:
    config = load_config({"MDPH_BRIDGE_ALERT_EMAILS": text})
    config |= {
        "SECRET_KEY": "x",
        "STAGING_KEYS": generate_staging_key("k"),
        "SIGNING_KEYS": generate_hub_key("h"),
    }
    with pytest.raises(RuntimeError, match="Destinataires d'alertes illisibles"):
        validate_config(config)
