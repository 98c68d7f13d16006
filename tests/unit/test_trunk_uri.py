"""The dialer's Request-URI builder: only the contact's number and the trunk's host and port reach
the URI, whatever else a trunk or a hostile tenant puts in (issue #10, item 2). Pure logic."""

from __future__ import annotations

import pytest
from aiosipua.headers import parse_uri
from hypothesis import given, settings
from hypothesis import strategies as st
from obzvon.sip.transport import uri_addr
from obzvon.sip.trunk import CalleeTarget, TrunkError, callee_target, check_trunk, host_problem
from obzvon.v1 import campaigns_pb2

T = campaigns_pb2

HOSTILE_HOSTS = [
    "127.0.0.1;x=",  # URI parameters
    "127.0.0.1:5070",  # a port in the host
    "evil.example;x=@127.0.0.1",  # the allowlist bypass: another host before an '@'
    "74950000000@127.0.0.1",  # a fixed number before the host
    "127.0.0.1?X-Header=1",  # URI headers
    "127.0.0.1 ",
    "sip:127.0.0.1",
    "",
    "a" * 254,
    "-bad.example",
    "::1%eth0",  # an IPv6 zone holds any text
    "1.2.3.999",
    "host_name.example",
    "127.0.0.1\r\nVia: x",
]


def test_the_uri_is_the_contacts_number_at_the_trunk_host_and_port() -> None:
    target = callee_target(T.Trunk(host="127.0.0.1", port=5070), "+74951234567")
    assert target == CalleeTarget(user="74951234567", host="127.0.0.1", port=5070)
    assert target.request_uri == "sip:74951234567@127.0.0.1:5070"
    assert target.addr == ("127.0.0.1", 5070)


def test_number_formats() -> None:
    def user(fmt: campaigns_pb2.TrunkNumberFormat.ValueType) -> str:
        return callee_target(T.Trunk(host="sip.example.com", port=5060, number_format=fmt), "+74951234567").user

    assert user(T.TRUNK_NUMBER_FORMAT_E164) == "+74951234567"
    assert user(T.TRUNK_NUMBER_FORMAT_E164_NO_PLUS) == "74951234567"
    assert user(T.TRUNK_NUMBER_FORMAT_UNSPECIFIED) == "74951234567"
    assert user(T.TRUNK_NUMBER_FORMAT_NATIONAL) == "4951234567"


def test_ipv6_literal_is_bracketed() -> None:
    assert callee_target(T.Trunk(host="::1", port=5070), "+12025550143").request_uri == "sip:12025550143@[::1]:5070"


def test_credentials_and_transport_never_reach_the_uri() -> None:
    trunk = T.Trunk(
        host="127.0.0.1",
        port=5070,
        transport=T.TRUNK_TRANSPORT_UDP,
        username="74950000000;x=@evil.example",
        password="sip:other@evil.example",
    )
    assert callee_target(trunk, "+74951234567").request_uri == "sip:74951234567@127.0.0.1:5070"


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_hostile_hosts_are_refused_by_the_builder_and_the_check(host: str) -> None:
    assert host_problem(host)
    assert [v.field for v in check_trunk(T.Trunk(host=host, port=5070), "campaign.trunk")] == ["campaign.trunk.host"]
    with pytest.raises(TrunkError):
        callee_target(T.Trunk(host=host, port=5070), "+74951234567")


@pytest.mark.parametrize("number", ["74951234567", "+7495;x=1", "+7495@evil", "+0123456", "+1234567890123456", ""])
def test_a_number_that_is_not_e164_is_refused(number: str) -> None:
    with pytest.raises(TrunkError) as refused:
        callee_target(T.Trunk(host="127.0.0.1", port=5070), number)
    assert number.lstrip("+") not in str(refused.value) or not number  # no phone number in logs


@pytest.mark.parametrize("port", [0, -1, 65536, 2**31 - 1])
def test_port_out_of_range(port: int) -> None:
    assert [v.field for v in check_trunk(T.Trunk(host="127.0.0.1", port=port), "t")] == ["t.port"]
    with pytest.raises(TrunkError):
        callee_target(T.Trunk(host="127.0.0.1", port=port), "+74951234567")


def test_tcp_is_refused_as_unsupported() -> None:
    assert [
        v.field for v in check_trunk(T.Trunk(host="127.0.0.1", port=5070, transport=T.TRUNK_TRANSPORT_TCP), "t")
    ] == ["t.transport"]
    with pytest.raises(TrunkError):
        callee_target(T.Trunk(host="127.0.0.1", port=5070, transport=T.TRUNK_TRANSPORT_TCP), "+74951234567")


HOSTS = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}", fullmatch=True),
    st.ip_addresses().map(str),
    st.lists(st.sampled_from(["127.0.0.1", "evil", ";", "@", ":", "?", "=", "x", "%", " ", "[", "]", "."])).map(
        "".join
    ),
)


@settings(max_examples=300, deadline=None)
@given(host=HOSTS, port=st.integers(-(2**31), 2**31 - 1), digits=st.from_regex(r"\+[1-9]\d{6,14}", fullmatch=True))
def test_whatever_the_trunk_the_sip_parser_reads_back_exactly_the_number_host_and_port(
    host: str, port: int, digits: str
) -> None:
    """The property the template lacked: what was checked is what the SIP library sends to."""
    try:
        target = callee_target(T.Trunk(host=host, port=port), digits)
    except TrunkError:
        return
    uri = parse_uri(target.request_uri)
    assert uri.user == digits.lstrip("+")
    assert uri_addr(target.request_uri) == (host, port)
    assert not uri.params and not uri.headers
