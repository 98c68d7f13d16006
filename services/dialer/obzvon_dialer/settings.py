from __future__ import annotations

from obzvon.recordings import RecordingStoreSettings
from obzvon.settings import CommonSettings
from pydantic import Field


class DialerSettings(CommonSettings, RecordingStoreSettings):
    service_name: str = "dialer"
    # This instance's number (a StatefulSet ordinal on Kubernetes): asr.results partition it reads.
    ordinal: int = 0
    # Calls in progress at once; past it the dialer pauses its dial.requests partitions.
    max_calls: int = 200
    sip_host: str = "127.0.0.1"
    sip_port: int = 0
    rtp_host: str = "127.0.0.1"
    ring_timeout_s: float = 30.0
    # A claim outlives any call, so a redelivered request for a finished attempt still finds it.
    claim_ttl_s: int = 24 * 3600
    # A prompt not in the tts cache when its turn comes is waited for this long (OBZVON_TTS_WAIT_S): the
    # callee hears the platform's opening meanwhile if the robot has not spoken yet, else silence; then
    # the platform's polite ending and a hangup ("prompt not ready"). Short: silence is what callees hate.
    tts_wait_s: float = Field(default=4.0, gt=0)
    # A callee may answer at once: before INVITE the dialer waits up to this long for the prompts they hear
    # before the first question, then dials anyway (OBZVON_PROMPT_READY_BEFORE_DIAL_S; 0: no wait).
    prompt_ready_before_dial_s: float = 15.0
    asr_timeout_s: float = 10.0
    no_input_timeout_s: float = 6.0
    max_utterance_s: float = 10.0
    end_of_speech_ms: int = 700
    # No script keeps a callee on the line for ever: the call ends (BYE) this long after answer
    # (OBZVON_MAX_CALL_S), or once no RTP came from the callee for OBZVON_RTP_INACTIVITY_S (a dead line).
    max_call_s: float = Field(default=600.0, gt=0)
    rtp_inactivity_s: float = Field(default=30.0, gt=0)
    # Speech outside questions goes to asr only to hear an opt-out; each costs Whisper time, so a call
    # sends at most this many such utterances (a machine's long greeting must not flood asr).
    opt_out_recognitions_per_call: int = Field(default=6, ge=0)
    # A callee behind NAT puts its private address in SDP: latch onto the first source that sends.
    rtp_nat_latching: bool = True
    # Hosts a campaign's trunk may name (Trunk.host, compared as written); anything else is refused before INVITE.
    allowed_trunk_hosts: str = "127.0.0.1,localhost"
