"""Result and error codes as data: V.25ter result codes, +CME ERROR, table 3, FILE errors."""

from __future__ import annotations

from enum import IntEnum

from ..protocol.cme import CME_TEXT as CME_TEXT  # the manuals' texts, shared with the host side


class Result(IntEnum):
    """Final result codes with their ATV0 digits (AT Commands Manual, table 3)."""

    OK = 0
    CONNECT = 1
    RING = 2
    NO_CARRIER = 3
    ERROR = 4
    NO_DIALTONE = 6
    BUSY = 7
    NO_ANSWER = 8

    @property
    def text(self) -> str:
        return self.name.replace("_", " ")


class FileError(IntEnum):
    """FILE manual error codes used by the handlers."""

    INVALID_INPUT = 400
    DRIVE_FULL = 403
    NOT_FOUND = 405
    INVALID_NAME = 406
    EXISTS = 407
    WRITE_FAILED = 409
    TIMEOUT = 421
    TOO_LARGE = 423
    INVALID_PARAMETER = 425


class QiError(IntEnum):
    """TCP/IP and SSL error codes (SSL manual table 3, TCP/IP manual chapter 4)."""

    OK = 0
    UNKNOWN = 550
    BLOCKED = 551
    INVALID_PARAMETER = 552
    MEMORY = 553
    CREATE_SOCKET = 554
    NOT_SUPPORTED = 555
    BIND = 556
    LISTEN = 557
    WRITE = 558
    READ = 559
    ACCEPT = 560
    OPEN_PDP = 561
    CLOSE_PDP = 562
    SOCKET_ID_USED = 563
    DNS_BUSY = 564
    DNS_PARSE = 565
    CONNECT = 566
    SOCKET_CLOSED = 567
    BUSY = 568
    TIMEOUT = 569
    PDP_BROKEN = 570
    CANCEL_SEND = 571
    NOT_ALLOWED = 572
    APN_NOT_CONFIGURED = 573
    PORT_BUSY = 574


# AT+QIGETERROR descriptions: the TCP/IP manual's wording in the bare lower case that real
# modules print (``+QIGETERROR: 0,operate successfully``).
QI_ERROR_TEXT: dict[int, str] = {
    0: "operate successfully",
    550: "unknown error",
    551: "operation blocked",
    552: "invalid parameters",
    553: "memory not enough",
    554: "create socket failed",
    555: "operation not supported",
    556: "socket bind failed",
    557: "socket listen failed",
    558: "socket write failed",
    559: "socket read failed",
    560: "socket accept failed",
    561: "open pdp context failed",
    562: "close pdp context failed",
    563: "socket identity has been used",
    564: "dns busy",
    565: "dns parse failed",
    566: "socket connect failed",
    567: "socket has been closed",
    568: "operation busy",
    569: "operation timeout",
    570: "pdp context broken down",
    571: "cancel send",
    572: "operation not allowed",
    573: "apn not configured",
    574: "port busy",
}


class HttpError(IntEnum):
    """HTTP(S) manual error codes (chapter 5): ``<err>`` of the result URCs and
    ``+CME ERROR``. Which situation raises which is HTTP_COMMANDS.md's reading."""

    OK = 0
    UNKNOWN = 701
    TIMEOUT = 702
    BUSY = 703
    UART_BUSY = 704
    NO_REQUEST = 705
    NETWORK_BUSY = 706
    NETWORK_OPEN = 707
    NETWORK_NOT_CONFIGURED = 708
    NETWORK_DEACTIVATED = 709
    NETWORK_ERROR = 710
    URL_ERROR = 711
    EMPTY_URL = 712
    IP_ADDRESS = 713
    DNS = 714
    SOCKET_CREATE = 715
    SOCKET_CONNECT = 716
    SOCKET_READ = 717
    SOCKET_WRITE = 718
    SOCKET_CLOSED = 719
    ENCODE = 720
    DECODE = 721
    READ_TIMEOUT = 722
    RESPONSE_FAILED = 723
    INCOMING_CALL = 724
    VOICE_CALL = 725
    INPUT_TIMEOUT = 726
    WAIT_DATA_TIMEOUT = 727
    RESPONSE_TIMEOUT = 728
    MEMORY = 729
    INVALID_PARAMETER = 730
