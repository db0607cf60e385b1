"""Registration checks of the subscriptions api that need no service: refused targets."""

from __future__ import annotations

import pytest
from cairn.api.routers.subscriptions import check_target, secret
from cairn.core.adapters.settings import Settings
from cairn.core.domain import webhook_signing as signing
from cairn.core.domain.identity import InvalidInput


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://10.0.0.7/h",
                                 "https://localhost/h", "http://[fd00::1]/h"])
async def test_private_targets_are_refused_at_registration_unless_allowed(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await check_target(url, Settings(allow_private_webhooks=False))
    assert refused.value.reason == "private_target"
    assert "CAIRN_ALLOW_PRIVATE_WEBHOOKS" in str(refused.value)
    await check_target(url, Settings(allow_private_webhooks=True))


async def test_public_targets_pass_and_secrets_come_from_the_master_key() -> None:
    await check_target("http://93.184.216.34/hook", Settings())
    settings = Settings(webhook_key="k")
    assert secret(settings, "s") == signing.secret_for(b"k", "s")
