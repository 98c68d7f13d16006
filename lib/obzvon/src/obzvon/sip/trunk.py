"""Where one call goes: the Request-URI built from the contact's number and the trunk's host and port.

A trunk is structured data (obzvon.v1.Trunk), never a URI template: a template let a campaign ring
one fixed number for every contact (`sip:NUMBER@HOST;x={number}`) or reach a host the allowlist
never saw (`sip:OTHER;x={number}@ALLOWED`), because the check and the SIP library read the URI
differently. Here nothing from the tenant is pasted into a URI: the user part is digits made from
the E.164 number, the host is an IP literal or a strict hostname, the port a number.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import phonenumbers
from aiosipua.auth import SipDigestAuth
from redis.asyncio import Redis

from obzvon import keys
from obzvon.errors import FieldViolation
from obzvon.v1 import campaigns_pb2

E164_RE = re.compile(r"^\+[1-9]\d{1,14}$")
# RFC 1123 labels: letters, digits and inner dashes, 1-63 characters each.
_LABEL_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
MAX_HOST_LEN = 253
DEFAULT_TRANSPORT = campaigns_pb2.TRUNK_TRANSPORT_UDP
DEFAULT_NUMBER_FORMAT = campaigns_pb2.TRUNK_NUMBER_FORMAT_E164_NO_PLUS


class TrunkError(ValueError):
    """A trunk or number the dialer will not build a Request-URI from (the message has no phone number)."""


@dataclass(frozen=True)
class CalleeTarget:
    """One call's destination: the Request-URI and To carry `user`, and the INVITE is sent to (host, port)."""

    user: str
    host: str
    port: int

    @property
    def addr(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def request_uri(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        return f"sip:{self.user}@{host}:{self.port}"


def host_problem(host: str) -> str:
    """Why a trunk host is not acceptable; empty when it is an IP literal or a strict hostname."""
    if not host:
        return "required: an IP address or a hostname"
    if len(host) > MAX_HOST_LEN:
        return f"at most {MAX_HOST_LEN} characters"
    try:
        # An IPv6 zone (fe80::1%eth0) may hold any text, so none is taken.
        if "%" not in host:
            ipaddress.ip_address(host)
            return ""
    except ValueError:
        pass
    labels = host.removesuffix(".").split(".")
    if not all(_LABEL_RE.match(label) for label in labels) or labels[-1].isdigit():
        return "an IP address or a hostname of letters, digits, dots and dashes (no scheme, user, port or parameters)"
    return ""


def check_trunk(trunk: campaigns_pb2.Trunk, field: str) -> list[FieldViolation]:
    """Every problem of a trunk as the API takes it, each naming its field."""
    problems: list[FieldViolation] = []
    if reason := host_problem(trunk.host):
        problems.append(FieldViolation(f"{field}.host", reason))
    if not 1 <= trunk.port <= 65535:
        problems.append(FieldViolation(f"{field}.port", "between 1 and 65535"))
    if trunk.transport == campaigns_pb2.TRUNK_TRANSPORT_TCP:
        problems.append(
            FieldViolation(f"{field}.transport", "TCP is not supported yet: the dialer's SIP stack is UDP only")
        )
    elif trunk.transport not in (campaigns_pb2.TRUNK_TRANSPORT_UNSPECIFIED, campaigns_pb2.TRUNK_TRANSPORT_UDP):
        problems.append(FieldViolation(f"{field}.transport", "UDP"))
    if trunk.number_format not in campaigns_pb2.TrunkNumberFormat.values():
        problems.append(FieldViolation(f"{field}.number_format", "one of E164, E164_NO_PLUS, NATIONAL"))
    # The username goes into a digest Authorization header, never into a URI; still a plain token.
    if len(trunk.username) > 128 or any(c.isspace() or c in '"\\' for c in trunk.username):
        problems.append(FieldViolation(f"{field}.username", "at most 128 characters, no spaces or quotes"))
    if len(trunk.password) > 256:
        problems.append(FieldViolation(f"{field}.password", "at most 256 characters"))
    if trunk.password and not trunk.username:
        problems.append(FieldViolation(f"{field}.username", "required with a password"))
    return problems


def number_user(phone_number: str, number_format: campaigns_pb2.TrunkNumberFormat.ValueType) -> str:
    """The Request-URI user part for an E.164 number: digits only (and a leading '+' for E164)."""
    if not E164_RE.match(phone_number):
        raise TrunkError("the dialled number is not E.164")
    if number_format == campaigns_pb2.TRUNK_NUMBER_FORMAT_E164:
        return phone_number
    if number_format == campaigns_pb2.TRUNK_NUMBER_FORMAT_NATIONAL:
        try:
            return phonenumbers.national_significant_number(phonenumbers.parse(phone_number))
        except phonenumbers.NumberParseException:
            raise TrunkError("the dialled number has no national form") from None
    if number_format in (campaigns_pb2.TRUNK_NUMBER_FORMAT_E164_NO_PLUS, campaigns_pb2.TRUNK_NUMBER_FORMAT_UNSPECIFIED):
        return phone_number[1:]
    raise TrunkError(f"unknown number format {int(number_format)}")


def callee_target(trunk: campaigns_pb2.Trunk, phone_number: str) -> CalleeTarget:
    """The destination of a call to `phone_number` through `trunk`; TrunkError when either is unusable.

    Only the number, host and port are read: whatever else a trunk holds never reaches the URI.
    """
    if reason := host_problem(trunk.host):
        raise TrunkError(f"trunk host: {reason}")
    if not 1 <= trunk.port <= 65535:
        raise TrunkError("trunk port: between 1 and 65535")
    if trunk.transport not in (campaigns_pb2.TRUNK_TRANSPORT_UNSPECIFIED, campaigns_pb2.TRUNK_TRANSPORT_UDP):
        raise TrunkError("trunk transport: only UDP is supported")
    return CalleeTarget(user=number_user(phone_number, trunk.number_format), host=trunk.host, port=trunk.port)


def apply_trunk_defaults(trunk: campaigns_pb2.Trunk) -> None:
    """Stores what an unset transport and number format mean, so a campaign reads back as it dials."""
    if trunk.transport == campaigns_pb2.TRUNK_TRANSPORT_UNSPECIFIED:
        trunk.transport = DEFAULT_TRANSPORT
    if trunk.number_format == campaigns_pb2.TRUNK_NUMBER_FORMAT_UNSPECIFIED:
        trunk.number_format = DEFAULT_NUMBER_FORMAT


def without_secrets(campaign: campaigns_pb2.Campaign) -> campaigns_pb2.Campaign:
    """A copy of a campaign as the API shows it: the trunk password is stored, never returned."""
    shown = campaigns_pb2.Campaign()
    shown.CopyFrom(campaign)
    shown.trunk.ClearField("password")
    return shown


class TrunkCredentials:
    """The digest credentials of a campaign's trunk, read where the scheduler stores the campaign.

    The DialRequest carries the trunk without its password (Kafka keeps messages for days, and any
    consumer of the topic could read them); the dialer reads the password from the campaign record
    in Redis (`keys.campaign`), which only the platform's services can reach. See docs/sip.md.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def for_trunk(self, tenant_id: str, campaign_id: str, trunk: campaigns_pb2.Trunk) -> SipDigestAuth | None:
        """Credentials for the request's trunk; None when it has no username or the record disagrees."""
        if not trunk.username:
            return None
        raw = await self._redis.get(keys.campaign(tenant_id, campaign_id))
        if raw is None:
            return None  # the campaign was deleted meanwhile: a challenge then fails as trunk auth
        stored = campaigns_pb2.Campaign.FromString(raw if isinstance(raw, bytes) else raw.encode("latin-1")).trunk
        # The request's trunk is what the dialer calls; a record changed since (another host or
        # user) must not lend its password to it.
        if (stored.username, stored.host, stored.port) != (trunk.username, trunk.host, trunk.port):
            return None
        return SipDigestAuth(username=trunk.username, password=stored.password)
