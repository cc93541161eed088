"""PDP context commands: the SSL manual's chapter 3.1 and the TCP/IP manual's forms."""

from __future__ import annotations

from bg96.engine import ModuleConfig, Resolve, Resolved

from .helpers import Module


def test_manual_3_1_transcript() -> None:
    m = Module()
    assert m.cmd('AT+QICSGP=1,1,"CMCIOT","","",1') == (
        b'AT+QICSGP=1,1,"CMCIOT","","",1\r\r\nOK\r\n'
    )
    assert m.cmd("AT+QIACT=1") == b"AT+QIACT=1\r\r\nOK\r\n"
    assert m.cmd("AT+QIACT?") == b'AT+QIACT?\r\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n\r\nOK\r\n'
    assert m.cmd("AT+QIDEACT=1") == b"AT+QIDEACT=1\r\r\nOK\r\n"
    assert m.cmd("AT+QIACT?") == b"AT+QIACT?\r\r\nOK\r\n"


def test_qicsgp_forms() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+QICSGP=1") == b'\r\n+QICSGP: 1,"","","",0\r\n\r\nOK\r\n'
    assert m.cmd("AT+QICSGP=?") == (
        b"\r\n+QICSGP: (1-16),(1,2),<APN>,<username>,<password>,(0-3)\r\n\r\nOK\r\n"
    )
    assert m.cmd('AT+QICSGP=2,1,"apn","u","p",2') == b"\r\nOK\r\n"
    assert m.cmd("AT+QICSGP=2") == b'\r\n+QICSGP: 1,"apn","u","p",2\r\n\r\nOK\r\n'
    # TinyGSM (no auth) and Mbed OS (APN only) short forms
    assert m.cmd('AT+QICSGP=1,1,"apn","",""') == b"\r\nOK\r\n"
    assert m.cmd('AT+QICSGP=1,1,"apn"') == b"\r\nOK\r\n"
    for bad in (
        "AT+QICSGP=0",
        "AT+QICSGP=17",
        'AT+QICSGP=1,3,"apn"',
        "AT+QICSGP=1,1,apn",
        'AT+QICSGP=1,1,"apn","user"',
        'AT+QICSGP=1,1,"apn","","",4',
        "AT+QICSGP",
        "AT+QICSGP?",
    ):
        assert m.cmd(bad) == b"\r\nERROR\r\n", bad
    assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 552,invalid parameters\r\n\r\nOK\r\n"


def test_qiact_errors() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+QIACT=?") == b"\r\n+QIACT: (1-16)\r\n\r\nOK\r\n"
    assert m.cmd("AT+QIACT=0") == b"\r\nERROR\r\n"
    assert m.cmd("AT+QIACT=1") == b"\r\nOK\r\n"
    assert m.cmd("AT+QIACT=1") == b"\r\nERROR\r\n"  # already active
    assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 572,operation not allowed\r\n\r\nOK\r\n"
    assert m.cmd("AT+QIACT=2") == b"\r\nOK\r\n"
    assert m.cmd("AT+QIACT=3") == b"\r\nOK\r\n"
    assert m.cmd("AT+QIACT=4") == b"\r\nERROR\r\n"  # three at most
    assert m.cmd("AT+QIACT?") == (
        b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n+QIACT: 2,1,1,"10.7.157.2"\r\n'
        b'+QIACT: 3,1,1,"10.7.157.3"\r\n\r\nOK\r\n'
    )


def test_qiact_takes_the_configured_time_and_holds_input() -> None:
    m = Module(ModuleConfig(pdp_activation_time=2.0))
    m.cmd("ATE0")
    assert m.cmd("AT+QIACT=1") == b""
    assert m.cmd("AT") == b""  # no other command is processed until the answer
    assert m.advance(1.0) == b""
    assert m.advance(1.0) == b"\r\nOK\r\n\r\nOK\r\n"


def test_qidnscfg() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+QIDNSCFG=1") == b"\r\nERROR\r\n"  # inactive context
    m.activate()
    assert m.cmd("AT+QIDNSCFG=1") == b'\r\n+QIDNSCFG: 1,"10.7.0.1","10.7.0.2"\r\n\r\nOK\r\n'
    assert m.cmd('AT+QIDNSCFG=1,"8.8.8.8","1.1.1.1"') == b"\r\nOK\r\n"
    assert m.cmd("AT+QIDNSCFG=1") == b'\r\n+QIDNSCFG: 1,"8.8.8.8","1.1.1.1"\r\n\r\nOK\r\n'
    assert m.cmd('AT+QIDNSCFG=1,"not.an.ip"') == b"\r\nERROR\r\n"


def test_qigeterror_reports_the_last_command() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 0,operate successfully\r\n\r\nOK\r\n"
    m.cmd("AT+QSSLOPEN=1,1,99,x,1")
    assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 552,invalid parameters\r\n\r\nOK\r\n"
    m.cmd("AT+QSSLSTATE")
    assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 0,operate successfully\r\n\r\nOK\r\n"
    assert m.cmd("AT+QIGETERROR=?") == b"\r\nOK\r\n"


def test_qidnsgip_answers_with_urcs() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd('AT+QIDNSGIP=1,"example.com"') == b"\r\nERROR\r\n"  # context not active
    assert m.cmd("AT+QIGETERROR").startswith(b"\r\n+QIGETERROR: 561,")  # as QIOPEN's
    m.activate()
    assert m.cmd("AT+QIDNSGIP=?") == b"\r\n+QIDNSGIP: (1-16),<hostname>\r\n\r\nOK\r\n"
    assert m.cmd('AT+QIDNSGIP=1,"example.com"') == b"\r\nOK\r\n"
    (lookup,) = m.intents()
    assert isinstance(lookup, Resolve) and lookup.host == "example.com"
    assert m.event(Resolved(lookup.request, ("127.0.0.1",))) == (
        b'\r\n+QIURC: "dnsgip",0,1,600\r\n\r\n+QIURC: "dnsgip","127.0.0.1"\r\n'
    )
    m.cmd('AT+QIDNSGIP=1,"nowhere.invalid"')
    (lookup,) = m.intents()
    assert isinstance(lookup, Resolve)
    assert m.event(Resolved(lookup.request, code=565, reason="no such name")) == (
        b'\r\n+QIURC: "dnsgip",565\r\n'
    )
