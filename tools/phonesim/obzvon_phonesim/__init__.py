"""A population of SIP phones on 127.0.0.1 for testing and demonstrating Obzvon."""

from obzvon_phonesim.sim import BEHAVIOURS, REPLIES, PhoneSimulator, parse_mix

__all__ = ["BEHAVIOURS", "REPLIES", "PhoneSimulator", "parse_mix"]
