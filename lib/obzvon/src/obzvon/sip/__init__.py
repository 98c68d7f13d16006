"""SIP signalling: an outbound trunk client (dialer) and an answering side (phone simulator).

Built on aiosipua's message, header, SDP and dialog codecs, with our own UDP transport and
RFC 3261 transaction layer (see docs/sip.md for why).
"""

from obzvon.sip.transport import SipEndpoint, TransactionTimeout
from obzvon.sip.uac import CallFailed, FailureCause, OutboundCall, SipTrunk
from obzvon.sip.uas import IncomingCall, SipUas

__all__ = [
    "CallFailed",
    "FailureCause",
    "IncomingCall",
    "OutboundCall",
    "SipEndpoint",
    "SipTrunk",
    "SipUas",
    "TransactionTimeout",
]
