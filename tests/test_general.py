"""General commands and command-line framing, byte for byte."""

from __future__ import annotations

from bg96.engine import ModuleConfig

from .helpers import Module


def test_boot_urcs_in_the_logged_order() -> None:
    m = Module()
    assert m.boot == (
        b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\nAPP RDY\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n"
        b"\r\n+QIND: SMS DONE\r\n"
    )


def test_at_is_echoed_then_ok() -> None:
    m = Module()
    assert m.cmd("AT") == b"AT\r\r\nOK\r\n"


def test_ate0_itself_is_echoed() -> None:
    m = Module()
    assert m.cmd("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert m.cmd("AT") == b"\r\nOK\r\n"
    assert m.cmd("ATE1") == b"\r\nOK\r\n"
    assert m.cmd("AT") == b"AT\r\r\nOK\r\n"


def test_at_prefix_is_case_insensitive() -> None:
    m = Module()
    m.cmd("ATE0")
    for prefix in ("at", "At", "aT", "AT"):
        assert m.cmd(prefix) == b"\r\nOK\r\n"
    assert m.cmd("at+cgmi") == b"\r\nQuectel\r\n\r\nOK\r\n"


def test_lf_is_ignored() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.send(b"AT\r\n") == b"\r\nOK\r\n"
    assert m.send(b"\nA\nT\r") == b"\r\nOK\r\n"


def test_ati_and_identity() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("ATI") == b"\r\nQuectel\r\nBG96\r\nRevision: BG96MAR02A07M1G\r\n\r\nOK\r\n"
    assert m.cmd("AT+GMR") == b"\r\nBG96MAR02A07M1G\r\n\r\nOK\r\n"
    assert m.cmd("AT+CGMM") == b"\r\nBG96\r\n\r\nOK\r\n"
    assert m.cmd("AT+CGSN") == b"\r\n866425030000017\r\n\r\nOK\r\n"
    assert m.cmd("AT+GSN") == b"\r\n866425030000017\r\n\r\nOK\r\n"
    assert m.cmd("AT+CGMI=?") == b"\r\nOK\r\n"
    assert m.cmd("AT+CGMI?") == b"\r\nERROR\r\n"
    assert m.cmd("AT+QGMR") == b"\r\nBG96MAR02A07M1G_01.019.01.019\r\n\r\nOK\r\n"


def test_several_commands_on_one_line() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+CMEE?;+CGMI") == b"\r\n+CMEE: 1\r\n\r\nQuectel\r\n\r\nOK\r\n"
    assert m.cmd("ATE0V1Q0") == b"\r\nOK\r\n"
    # an error stops the line: nothing after it runs, one ERROR for the line
    assert m.cmd("AT+CMEE=2;+BOGUS;+CMEE=0") == b"\r\nERROR\r\n"
    assert m.cmd("AT+CMEE?") == b"\r\n+CMEE: 2\r\n\r\nOK\r\n"


def test_a_slash_repeats_the_last_line() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+CGMM") == b"\r\nBG96\r\n\r\nOK\r\n"
    assert m.send(b"A/") == b"\r\nBG96\r\n\r\nOK\r\n"
    assert m.send(b"a/") == b"\r\nBG96\r\n\r\nOK\r\n"


def test_backspace_edits_the_line() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.send(b"AT+CGMX\x08M\r") == b"\r\nBG96\r\n\r\nOK\r\n"


def test_atv0_numeric_results() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("ATV0") == b"0\r"
    assert m.cmd("AT+CGMI") == b"Quectel\r\n0\r"
    assert m.cmd("AT+NOPE") == b"4\r"
    assert m.cmd("ATV1") == b"\r\nOK\r\n"


def test_atq1_suppresses_result_codes_not_information() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("ATQ1") == b""
    assert m.cmd("AT+CGMI") == b"\r\nQuectel\r\n"
    assert m.cmd("AT+NOPE") == b""
    assert m.cmd("ATQ0") == b"\r\nOK\r\n"


def test_cmee_modes() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+CMEE=?") == b"\r\n+CMEE: (0-2)\r\n\r\nOK\r\n"
    assert m.cmd('AT+QFDEL="nothere"') == b"\r\n+CME ERROR: 405\r\n"
    m.cmd("AT+CMEE=2")
    assert m.cmd('AT+QFDEL="nothere"') == b"\r\n+CME ERROR: file not found\r\n"
    m.cmd("AT+CMEE=0")
    assert m.cmd('AT+QFDEL="nothere"') == b"\r\nERROR\r\n"
    assert m.cmd("AT+CMEE=3") == b"\r\nERROR\r\n"


def test_unknown_commands_and_garbage() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+QSSSEND=1") == b"\r\nERROR\r\n"
    assert any("typo" in n for n in (m.intents(), m.notes)[1])
    assert m.cmd("hello") == b"\r\nERROR\r\n"
    assert m.cmd("AT\xff\xfe") == b"\r\nERROR\r\n"
    assert m.cmd("AT+") == b"\r\nERROR\r\n"
    assert m.cmd("") == b""
    assert m.cmd("AT") == b"\r\nOK\r\n"


def test_stray_ctrl_z_before_a_command_is_skipped() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.send(b"\x1aAT\r") == b"\r\nOK\r\n"


def test_overlong_line_is_an_error_and_the_engine_stays_in_sync() -> None:
    m = Module(ModuleConfig(max_line=64))
    m.cmd("ATE0")
    assert m.cmd("AT+QSSLCFG=" + "x" * 100) == b"\r\nERROR\r\n"
    assert m.cmd("AT") == b"\r\nOK\r\n"


def test_factory_defaults_profile_and_atz() -> None:
    m = Module()
    m.cmd("ATE0")
    m.cmd("ATV0")
    assert m.cmd("AT&W") == b"0\r"
    assert m.cmd("AT&F") == b"\r\nOK\r\n"  # typed with echo off; answered in V1
    assert m.cmd("ATZ") == b"ATZ\r0\r"  # echo on from &F; then the stored profile: V0
    m.cmd("ATV1")


def test_amp_c_amp_d_and_s_registers() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT&D2") == b"\r\nOK\r\n"
    assert m.cmd("AT&D3") == b"\r\nERROR\r\n"
    assert m.cmd("AT&C0") == b"\r\nOK\r\n"
    assert m.cmd("ATS3?") == b"\r\n013\r\n\r\nOK\r\n"
    assert m.cmd("ATS5=8") == b"\r\nOK\r\n"
    assert m.cmd("ATS5=200") == b"\r\nERROR\r\n"
    out = m.cmd("AT&V")
    assert b"&D: 2" in out and b"&C: 0" in out and out.endswith(b"\r\nOK\r\n")


def test_cpin_csq_registration_and_cops() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+CPIN?") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"
    assert m.cmd('AT+CPIN="1234"') == b"\r\n+CME ERROR: 3\r\n"
    assert m.cmd("AT+CSQ") == b"\r\n+CSQ: 24,99\r\n\r\nOK\r\n"
    assert m.cmd("AT+CSQ=?") == b"\r\n+CSQ: (0-31,99),(0-7,99)\r\n\r\nOK\r\n"
    assert m.cmd("AT+CREG?") == b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"
    assert m.cmd("AT+CEREG=2") == b"\r\nOK\r\n"
    assert m.cmd("AT+CEREG?") == b'\r\n+CEREG: 2,1,"1A2B","0B2C3D4E",8\r\n\r\nOK\r\n'
    assert m.cmd("AT+CGREG=3") == b"\r\nERROR\r\n"
    assert m.cmd("AT+COPS?") == b'\r\n+COPS: 0,0,"BG96 Virtual",8\r\n\r\nOK\r\n'


def test_cfun_0_deregisters_and_1_comes_back_with_urcs() -> None:
    m = Module()
    m.cmd("ATE0")
    m.cmd("AT+CEREG=1")
    assert m.cmd("AT+CFUN=0") == b"\r\nOK\r\n\r\n+CEREG: 0\r\n"
    assert m.cmd("AT+CFUN?") == b"\r\n+CFUN: 0\r\n\r\nOK\r\n"
    assert m.cmd("AT+CPIN?") == b"\r\n+CME ERROR: 13\r\n"
    assert m.cmd("AT+CSQ") == b"\r\n+CSQ: 99,99\r\n\r\nOK\r\n"
    assert m.cmd("AT+QIACT=1") == b"\r\nERROR\r\n"
    assert m.cmd("AT+CFUN=1") == (
        b"\r\nOK\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n\r\n+QIND: SMS DONE\r\n\r\n+CEREG: 1\r\n"
    )
    assert m.cmd("AT+CFUN=0,1") == b"\r\nERROR\r\n"
    assert m.cmd("AT+CFUN=5") == b"\r\nERROR\r\n"


def test_cfun_1_1_reboots_loses_volatile_state_keeps_files() -> None:
    m = Module()
    m.cmd("ATE0")
    m.cmd('AT+QSSLCFG="seclevel",2,1')
    m.store.write("keep.pem", b"x")
    m.activate()
    assert m.cmd("AT+CFUN=1,1") == b"\r\nOK\r\n"
    assert m.send(b"AT\r") == b""  # restarting: input is lost
    out = m.advance(0.05) + m.advance(0.05) + m.advance(0.05)
    assert out.startswith(b"\r\nRDY\r\n") and out.endswith(b"\r\n+QIND: SMS DONE\r\n")
    assert m.cmd("AT") == b"AT\r\r\nOK\r\n"  # the profile: echo on again
    assert m.cmd('AT+QSSLCFG="seclevel",2') == (
        b'AT+QSSLCFG="seclevel",2\r\r\n+QSSLCFG: "seclevel",2,0\r\n\r\nOK\r\n'
    )
    assert m.cmd("AT+QIACT?") == b"AT+QIACT?\r\r\nOK\r\n"
    assert m.store.read("keep.pem") == b"x"


def test_cclk_starts_at_the_gps_epoch_and_runs() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+CCLK?") == b'\r\n+CCLK: "80/01/06,00:00:01+00"\r\n\r\nOK\r\n'
    m.advance(11)
    assert m.cmd("AT+CCLK?") == b'\r\n+CCLK: "80/01/06,00:00:12+00"\r\n\r\nOK\r\n'
    assert m.cmd('AT+CCLK="26/11/25,10:30:00+04"') == b"\r\nOK\r\n"
    m.advance(90)
    assert m.cmd("AT+CCLK?") == b'\r\n+CCLK: "26/11/25,10:31:30+04"\r\n\r\nOK\r\n'
    assert m.engine.module_time() == 1795599090.0  # 2026-11-25 09:31:30 UTC
    for bad in ('"26/13/01,00:00:00+00"', '"26/02/30,00:00:00+00"', '"26/01/01,24:00:00+00"',
                '"26/01/01,00:00:00+57"', "26/01/01", '"garbage"'):  # fmt: skip
        assert m.cmd(f"AT+CCLK={bad}") == b"\r\nERROR\r\n", bad
    assert m.cmd("AT+CCLK=?") == b"\r\nOK\r\n"


def test_ipr_and_urcport() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+IPR?") == b"\r\n+IPR: 115200\r\n\r\nOK\r\n"
    assert m.cmd("AT+IPR=921600") == b"\r\nOK\r\n"
    assert m.cmd("AT+IPR=1234") == b"\r\nERROR\r\n"
    assert m.cmd("AT+IPR?") == b"\r\n+IPR: 921600\r\n\r\nOK\r\n"
    assert m.cmd('AT+QURCCFG="urcport"') == b'\r\n+QURCCFG: "urcport","uart1"\r\n\r\nOK\r\n'
    assert m.cmd('AT+QURCCFG="urcport","usbat"') == b"\r\nOK\r\n"
    assert m.cmd('AT+QURCCFG="urcport","com9"') == b"\r\nERROR\r\n"
    assert m.cmd('AT+QURCCFG="urcport"') == b'\r\n+QURCCFG: "urcport","usbat"\r\n\r\nOK\r\n'
    assert m.cmd("AT+QURCCFG=?") == (
        b'\r\n+QURCCFG: "urcport",("usbat","usbmodem","uart1")\r\n\r\nOK\r\n'
    )


def test_ato_without_a_connection_is_no_carrier() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("ATO") == b"\r\nNO CARRIER\r\n"
    assert m.cmd("AT") == b"\r\nOK\r\n"


def test_driver_start_up_commands() -> None:
    """What TinyGSM and friends send at start-up gets real answers, not ERROR."""
    m = Module()
    m.cmd("ATE0")
    for line, answer in (
        ("AT+CTZR=0", b"\r\nOK\r\n"),
        ("AT+CTZU=1", b"\r\nOK\r\n"),
        ("AT+CGATT?", b"\r\n+CGATT: 1\r\n\r\nOK\r\n"),
        ("AT+CGATT=1", b"\r\nOK\r\n"),
        ("AT+CIMI", b"\r\n460001234567890\r\n\r\nOK\r\n"),
        ("AT+QCCID", b"\r\n+QCCID: 89860012345678901234\r\n\r\nOK\r\n"),
        ("AT+CGPADDR=1", b"\r\n+CGPADDR: 1,0.0.0.0\r\n\r\nOK\r\n"),
    ):
        assert m.cmd(line) == answer, line
    m.activate()
    assert m.cmd("AT+CGPADDR=1") == b"\r\n+CGPADDR: 1,10.7.157.1\r\n\r\nOK\r\n"


def test_ipr_survives_a_restart_only_when_stored() -> None:
    m = Module()
    m.cmd("ATE0")
    m.cmd("AT+IPR=57600")
    m.cmd("AT+CFUN=1,1")
    m.advance(0.2)
    m.cmd("ATE0")
    assert m.cmd("AT+IPR?") == b"\r\n+IPR: 115200\r\n\r\nOK\r\n"
    m.cmd("AT+IPR=57600;&W")
    m.cmd("AT+CFUN=1,1")
    m.advance(0.2)
    m.cmd("ATE0")
    assert m.cmd("AT+IPR?") == b"\r\n+IPR: 57600\r\n\r\nOK\r\n"


def test_qcfg_keys_drivers_send_at_start_up() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd('AT+QCFG="nwscanseq"') == b'\r\n+QCFG: "nwscanseq",020301\r\n\r\nOK\r\n'
    assert m.cmd('AT+QCFG="nwscanseq",030201,1') == b"\r\nOK\r\n"
    assert m.cmd('AT+QCFG="nwscanseq"') == b'\r\n+QCFG: "nwscanseq",030201\r\n\r\nOK\r\n'
    assert m.cmd('AT+QCFG="NWSCANMODE",3,1') == b"\r\nOK\r\n"  # keys in any case
    assert m.cmd('AT+QCFG="nwscanmode"') == b'\r\n+QCFG: "nwscanmode",3\r\n\r\nOK\r\n'
    assert m.cmd('AT+QCFG="iotopmode",1') == b"\r\nOK\r\n"
    assert m.cmd('AT+QCFG="band"') == (
        b'\r\n+QCFG: "band",0xf,0x400a0e189f,0xa0e189f\r\n\r\nOK\r\n'
    )
    assert m.cmd('AT+QCFG="band",0,8000000,8000000,1') == b"\r\nOK\r\n"
    assert m.cmd('AT+QCFG="band",0XF,0,0X8000004') == b"\r\nOK\r\n"
    assert m.cmd('AT+QCFG="band"') == b'\r\n+QCFG: "band",0xf,0x0,0x8000004\r\n\r\nOK\r\n'
    assert m.cmd('AT+QCFG="nbsibscramble",0') == b"\r\nOK\r\n"
    assert m.cmd('AT+QCFG="servicedomain",1,1') == b"\r\nOK\r\n"
    for bad in (
        'AT+QCFG="nwscanseq",0304',  # 04 is no access technology
        'AT+QCFG="nwscanmode",2',
        'AT+QCFG="iotopmode",3,1',
        'AT+QCFG="iotopmode",1,2',  # <effect> is 0 or 1
        'AT+QCFG="band",0,0',  # three masks
        'AT+QCFG="band",G,0,0',
        'AT+QCFG="psm/enter",1',  # a key this module does not know
        "AT+QCFG=nwscanmode",
        "AT+QCFG?",
    ):
        assert m.cmd(bad) == b"\r\nERROR\r\n", bad
    test = m.cmd("AT+QCFG=?")
    assert test.startswith(b'\r\n+QCFG: "nwscanseq",(00-030201),(0,1)\r\n')
    assert test.endswith(b'+QCFG: "nbsibscramble",(0,1)\r\n\r\nOK\r\n')
    m.engine.reboot()  # kept in NV
    m.advance(1.0)
    assert m.cmd('AT+QCFG="nwscanmode"').endswith(b'+QCFG: "nwscanmode",3\r\n\r\nOK\r\n')
