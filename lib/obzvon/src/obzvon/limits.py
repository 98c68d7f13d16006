"""Bounds on everything a tenant sends, in one place, so the API, the dispatcher and the bus agree.

The sizes are chosen so that a DialRequest (script + contact variables + campaign fields) always
fits one Kafka message (MAX_KAFKA_MESSAGE_BYTES, the producer's max_request_size): a contact that
passed the API can never be refused by the bus.
"""

from __future__ import annotations

from dataclasses import dataclass

# aiokafka's default max_request_size (and the broker's default message.max.bytes is about the same);
# the producer sets it explicitly from here.
MAX_KAFKA_MESSAGE_BYTES = 1024 * 1024
# A DialRequest leaves room for the record's key, headers (trace context) and batch overhead.
MAX_DIAL_REQUEST_BYTES = MAX_KAFKA_MESSAGE_BYTES - 64 * 1024

# Names and short labels (display names, tags, choices, node ids, consent fields).
MAX_NAME_CHARS = 200
MAX_ID_CHARS = 64
# Any text spoken to a callee (say/ask/hangup/transfer text).
MAX_TEXT_CHARS = 1000

# A script: nodes, branches and its whole serialized size.
MAX_SCRIPT_NODES = 500
MAX_SCRIPT_BYTES = 256 * 1024
MAX_BRANCHES = 20
MAX_ASK_RETRIES = 5
MAX_DIGITS_LENGTH = 32

# A contact's variables: count, key and value size. 50 x (64 + 1000 chars x 4 bytes) is about
# 200 KB, which with MAX_SCRIPT_BYTES still leaves half a Kafka message free.
MAX_VARIABLES = 50
MAX_VARIABLE_KEY_CHARS = 64
MAX_VARIABLE_VALUE_CHARS = 1000
# Phone numbers as sent (before they are normalised to E.164).
MAX_PHONE_CHARS = 32
# A retry delay beyond a week is a mistake, not a plan.
MAX_RETRY_DELAY_SECONDS = 7 * 86400


@dataclass(frozen=True)
class ScriptLimits:
    """Limits validate_script applies; the defaults are the platform's."""

    max_nodes: int = MAX_SCRIPT_NODES
    max_bytes: int = MAX_SCRIPT_BYTES
    max_text_chars: int = MAX_TEXT_CHARS
    max_name_chars: int = MAX_NAME_CHARS
    max_branches: int = MAX_BRANCHES
    max_ask_retries: int = MAX_ASK_RETRIES
