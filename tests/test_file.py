"""FILE commands: upload, download, list, delete; names, limits, timeouts, the checksum."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bg96.engine import MemoryStore, ModuleConfig, checksum
from bg96.engine.files import format_checksum, normalize_name
from bg96.module.filestore import DirStore

from .helpers import Module

# Amazon Root CA 1 as Debian's ca-certificates ships it (1188 bytes): FIELD_NOTES' vector.
AMAZON_ROOT_CA_1 = b"""-----BEGIN CERTIFICATE-----
MIIDQTCCAimgAwIBAgITBmyfz5m/jAo54vB4ikPmljZbyjANBgkqhkiG9w0BAQsF
ADA5MQswCQYDVQQGEwJVUzEPMA0GA1UEChMGQW1hem9uMRkwFwYDVQQDExBBbWF6
b24gUm9vdCBDQSAxMB4XDTE1MDUyNjAwMDAwMFoXDTM4MDExNzAwMDAwMFowOTEL
MAkGA1UEBhMCVVMxDzANBgNVBAoTBkFtYXpvbjEZMBcGA1UEAxMQQW1hem9uIFJv
b3QgQ0EgMTCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBALJ4gHHKeNXj
ca9HgFB0fW7Y14h29Jlo91ghYPl0hAEvrAIthtOgQ3pOsqTQNroBvo3bSMgHFzZM
9O6II8c+6zf1tRn4SWiw3te5djgdYZ6k/oI2peVKVuRF4fn9tBb6dNqcmzU5L/qw
IFAGbHrQgLKm+a/sRxmPUDgH3KKHOVj4utWp+UhnMJbulHheb4mjUcAwhmahRWa6
VOujw5H5SNz/0egwLX0tdHA114gk957EWW67c4cX8jJGKLhD+rcdqsq08p8kDi1L
93FcXmn/6pUCyziKrlA4b9v7LWIbxcceVOF34GfID5yHI9Y/QCB/IIDEgEw+OyQm
jgSubJrIqg0CAwEAAaNCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMC
AYYwHQYDVR0OBBYEFIQYzIU07LwMlJQuCFmcx7IQTgoIMA0GCSqGSIb3DQEBCwUA
A4IBAQCY8jdaQZChGsV2USggNiMOruYou6r4lK5IpDB/G/wkjUu0yKGX9rbxenDI
U5PMCCjjmCXPI6T53iHTfIUJrU6adTrCC2qJeHZERxhlbI1Bjjt/msv0tadQ1wUs
N+gDS63pYaACbvXy8MWy7Vu33PqUXHeeE6V/Uq2V8viTO96LXFvKWlJbYK8U90vv
o/ufQJVtMVT8QtPHRh8jrdkPSHCa2XV4cdFyQzR1bldZwgJcJmApzyMZFo6IQ6XU
5MsI+yMRQ+hDKXJioaldXgjUkK642M4UwtBV8ob2xJNDd2ZhwLnoQdeXeGADbkpy
rqXRfboQnoZsG4q5WTP468SQvvG5
-----END CERTIFICATE-----
"""


def test_checksum_vectors_from_real_modules() -> None:
    assert len(AMAZON_ROOT_CA_1) == 1188
    assert format_checksum(checksum(AMAZON_ROOT_CA_1)) == "2d13"
    assert format_checksum(checksum(AMAZON_ROOT_CA_1[:-1])) == "2d19"
    crlf = AMAZON_ROOT_CA_1.replace(b"\n", b"\r\n")
    assert len(crlf) == 1208
    assert format_checksum(checksum(crlf)) == "5769"


@given(st.binary(max_size=300))
def test_checksum_is_the_xor_of_big_endian_words(data: bytes) -> None:
    padded = data + b"\x00" * (len(data) % 2)
    expected = 0
    for i in range(0, len(padded), 2):
        expected ^= (padded[i] << 8) | padded[i + 1]
    assert checksum(data) == expected


def test_upload_the_amazon_root_ca_as_a_real_module_answers() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd('AT+QFUPL="rootCA.pem",1187,5') == b"\r\nCONNECT\r\n"
    assert m.send(AMAZON_ROOT_CA_1[:-1]) == b"\r\n+QFUPL: 1187,2d19\r\n\r\nOK\r\n"
    assert m.cmd("AT+QFLST") == b'\r\n+QFLST: "rootCA.pem",1187\r\n\r\nOK\r\n'
    assert m.cmd('AT+QFDWL="UFS:rootCA.pem"') == (
        b"\r\nCONNECT\r\n" + AMAZON_ROOT_CA_1[:-1] + b"\r\n+QFDWL: 1187,2d19\r\n\r\nOK\r\n"
    )


def test_upload_in_pieces_with_binary_content() -> None:
    m = Module()
    m.cmd("ATE0")
    data = bytes(range(256)) * 4
    assert m.cmd('AT+QFUPL="UFS:bin.der",1024') == b"\r\nCONNECT\r\n"
    out = b""
    for i in range(0, len(data), 7):
        out += m.send(data[i : i + 7])
    assert out == f"\r\n+QFUPL: 1024,{checksum(data):x}\r\n\r\nOK\r\n".encode()
    assert m.store.read("bin.der") == data


def test_upload_ack_mode_sends_a_after_each_1024_bytes() -> None:
    m = Module()
    m.cmd("ATE0")
    data = b"x" * 2500
    assert m.cmd(f'AT+QFUPL="a.bin",{len(data)},5,1') == b"\r\nCONNECT\r\n"
    assert m.send(data[:1024]) == b"A"
    assert m.send(data[1024:2048]) == b"A"
    assert m.send(data[2048:]) == f"\r\n+QFUPL: 2500,{checksum(data):x}\r\n\r\nOK\r\n".encode()


def test_upload_that_times_out_half_way_stores_nothing() -> None:
    m = Module()
    m.cmd("ATE0")
    m.store.write("old.pem", b"old")
    assert m.cmd('AT+QFUPL="new.pem",100,2') == b"\r\nCONNECT\r\n"
    assert m.send(b"x" * 40) == b""
    assert m.advance(1.5) == b""
    assert m.send(b"y" * 10) == b""  # a byte resets the idle timer
    assert m.advance(1.9) == b""
    assert m.advance(0.2) == b"\r\n+CME ERROR: 421\r\n"
    assert m.store.read("new.pem") is None
    assert m.store.read("old.pem") == b"old"
    assert m.cmd("AT") == b"\r\nOK\r\n"


def test_plus_plus_plus_with_guard_times_ends_an_upload_keeping_what_came() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd('AT+QFUPL="part.bin",1000,10') == b"\r\nCONNECT\r\n"
    assert m.send(b"+++ is data here" + b"x" * 84) == b""  # no silence before: data
    assert m.advance(1.5) == b""
    assert m.send(b"+++") == b""
    assert m.advance(0.9) == b""  # the silence after is not over yet
    assert m.advance(0.2) == b"\r\nOK\r\n"
    assert m.store.read("part.bin") == b"+++ is data here" + b"x" * 84
    assert m.cmd("AT") == b"\r\nOK\r\n"
    m.intents()
    assert "QFUPL part.bin: data mode left after 100 of 1000 bytes; they are kept" in m.notes


def test_a_dtr_drop_ends_an_upload_with_at_d1_and_not_with_at_d0() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd('AT+QFUPL="d1.bin",100') == b"\r\nCONNECT\r\n"
    m.send(b"abc")
    m.engine.set_dtr(False)
    assert m.out() == b"\r\nOK\r\n"
    m.engine.set_dtr(True)
    assert m.store.read("d1.bin") == b"abc"
    assert m.cmd("AT&D0") == b"\r\nOK\r\n"
    assert m.cmd('AT+QFUPL="d0.bin",5') == b"\r\nCONNECT\r\n"
    m.engine.set_dtr(False)
    assert m.send(b"12345") == b"\r\n+QFUPL: 5,3706\r\n\r\nOK\r\n"  # DTR ignored
    assert m.store.read("d0.bin") == b"12345"


def test_upload_errors() -> None:
    m = Module(ModuleConfig(max_file_size=1000, file_capacity=1500))
    m.cmd("ATE0")
    m.store.write("there.pem", b"x" * 600)
    assert m.cmd('AT+QFUPL="there.pem",10') == b"\r\n+CME ERROR: 407\r\n"
    assert m.cmd('AT+QFUPL="big.bin",1001') == b"\r\n+CME ERROR: 423\r\n"
    assert m.cmd('AT+QFUPL="fits.bin",901') == b"\r\n+CME ERROR: 403\r\n"
    assert m.cmd('AT+QFUPL="zero.bin",0') == b"\r\n+CME ERROR: 400\r\n"
    assert m.cmd('AT+QFUPL="t.bin",10,0') == b"\r\n+CME ERROR: 400\r\n"
    assert (
        m.cmd("AT+QFUPL=?") == b"\r\n+QFUPL: <filename>[,(1-900)[,(1-65535)[,(0,1)]]]\r\n\r\nOK\r\n"
    )


@pytest.mark.parametrize(
    "name",
    ["../escape.pem", "/etc/passwd", "a/b.pem", "a\\\\b.pem", "..", ".hidden", "", "UFS:", "x" * 81,
     "bad\x01name", "sp ace "],
)  # fmt: skip
def test_names_that_could_escape_are_rejected(name: str) -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd(f'AT+QFUPL="{name}",5') == b"\r\n+CME ERROR: 406\r\n"
    assert m.cmd(f'AT+QFDWL="{name}"') == b"\r\n+CME ERROR: 406\r\n"
    assert m.cmd("AT") == b"\r\nOK\r\n"
    assert m.store.names() == []


def test_nul_in_a_name_is_rejected() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.send(b'AT+QFUPL="a\x00b",5\r') == b"\r\n+CME ERROR: 406\r\n"
    assert normalize_name("a\x00b") is None


def test_list_delete_and_download() -> None:
    m = Module()
    m.cmd("ATE0")
    m.store.write("a.pem", b"aaaa")
    m.store.write("b.der", b"bb")
    assert m.cmd("AT+QFLST") == b'\r\n+QFLST: "a.pem",4\r\n+QFLST: "b.der",2\r\n\r\nOK\r\n'
    assert m.cmd('AT+QFLST="*"') == m.cmd("AT+QFLST")
    assert m.cmd('AT+QFLST="*.pem"') == b'\r\n+QFLST: "a.pem",4\r\n\r\nOK\r\n'
    assert m.cmd('AT+QFLST="none"') == b"\r\nOK\r\n"
    assert m.cmd('AT+QFDWL="missing"') == b"\r\n+CME ERROR: 405\r\n"
    assert m.cmd('AT+QFDEL="a.pem"') == b"\r\nOK\r\n"
    assert m.cmd('AT+QFDEL="a.pem"') == b"\r\n+CME ERROR: 405\r\n"
    assert m.cmd('AT+QFDEL="*"') == b"\r\nOK\r\n"
    assert m.store.names() == []
    assert m.cmd('AT+QFLDS="UFS"') == b"\r\n+QFLDS: 14483456,14483456\r\n\r\nOK\r\n"
    assert m.cmd("AT+QFDEL=?") == b"\r\n+QFDEL: <filename>\r\n\r\nOK\r\n"


def test_dir_store_is_atomic_and_confined(tmp_path: Path) -> None:
    store = DirStore(tmp_path / "ufs")
    store.write("a.pem", b"one")
    store.write("a.pem", b"two")
    assert store.read("a.pem") == b"two"
    assert store.names() == ["a.pem"]
    assert [p.name for p in (tmp_path / "ufs").iterdir()] == ["a.pem"]  # no temp files left
    for bad in ("../x", "/etc/passwd", "..", "sub/x"):
        with pytest.raises(ValueError):
            store.read(bad)
    assert store.delete("a.pem") and not store.delete("a.pem")


def test_files_persist_across_modules_in_a_directory(tmp_path: Path) -> None:
    first = Module(store=None)
    first.engine.store = DirStore(tmp_path)
    first.cmd('AT+QFUPL="ca.pem",3')
    first.send(b"abc")
    second = Module(store=MemoryStore())
    second.engine.store = DirStore(tmp_path)
    assert second.cmd("AT+QFLST").endswith(b'+QFLST: "ca.pem",3\r\n\r\nOK\r\n')
