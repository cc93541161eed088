"""The +CME ERROR codes and texts of the BG96 manuals: one table for the engine (what the
module answers with AT+CMEE=2) and the host side (what ``bg96 files`` prints).

Pure data: the host side may import it without importing the engine.
"""

from __future__ import annotations

# +CME ERROR codes of the general manual (ATM table 10) and of the FILE manual (ch. 4).
CME_TEXT: dict[int, str] = {
    0: "phone failure",
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    16: "incorrect password",
    23: "memory failure",
    30: "no network service",
    31: "network timeout",
    50: "incorrect parameters",
    400: "invalid input value",
    401: "larger than the size of the file",
    402: "read zero byte",
    403: "drive full",
    405: "file not found",
    406: "invalid file name",
    407: "file already existed",
    409: "fail to write the file",
    410: "fail to open the file",
    411: "fail to read the file",
    413: "reach the max number of file allowed to be opened",
    414: "the file is read-only",
    416: "invalid file descriptor",
    417: "fail to list the file",
    418: "fail to delete the file",
    419: "fail to get disk info",
    420: "no space",
    421: "time out",
    423: "file too large",
    425: "invalid parameter",
    426: "file already opened",
}

from .http_codes import HTTP_ERROR_TEXT  # noqa: E402  (the HTTP(S) manual's codes)

CME_TEXT.update(HTTP_ERROR_TEXT)
