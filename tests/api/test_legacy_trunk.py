"""A campaign stored before trunks were structured (it holds only the old `trunk_uri`, field 12) cannot
start: StartCampaign names the missing trunk instead of every call being refused by the dialer."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import grpc
import pytest
import redis
from obzvon.errors import field_violations
from obzvon.script import load_script_yaml
from obzvon.v1 import campaigns_pb2, campaigns_pb2_grpc

SCRIPT = load_script_yaml('start: bye\nnodes:\n  bye: {hangup: "До свидания"}\n')
OLD_TEMPLATE = b"sip:{number}@127.0.0.1:5070"


def test_campaign_with_only_the_old_uri_template_does_not_start(
    scheduler: grpc.Channel, new_tenant: Callable[[], list[tuple[str, str]]], test_redis: str
) -> None:
    key = new_tenant()
    stub = campaigns_pb2_grpc.CampaignServiceStub(scheduler)
    cid = f"legacy-{uuid.uuid4().hex[:8]}"
    stub.CreateCampaign(
        campaigns_pb2.CreateCampaignRequest(
            campaign_id=cid,
            campaign=campaigns_pb2.Campaign(
                display_name="Old",
                purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
                script=SCRIPT,
                caller_id="+74950000000",
                compliance_profile="default",
                language="ru",
                trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=5070),
            ),
        ),
        metadata=key,
    )
    store = redis.Redis.from_url(test_redis)
    (redis_key,) = store.scan_iter(match=f"campaign:*:{cid}")
    stored = campaigns_pb2.Campaign.FromString(store.get(redis_key))  # type: ignore[arg-type]
    stored.ClearField("trunk")
    # Field 12, length-delimited: how the campaign looked on the wire before the trunk was structured.
    old = stored.SerializeToString() + bytes([12 << 3 | 2, len(OLD_TEMPLATE)]) + OLD_TEMPLATE
    store.set(redis_key, old)

    with pytest.raises(grpc.RpcError) as raised:
        stub.StartCampaign(campaigns_pb2.StartCampaignRequest(name=f"campaigns/{cid}"), metadata=key)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert {v.field for v in field_violations(raised.value)} == {"campaign.trunk.host", "campaign.trunk.port"}
