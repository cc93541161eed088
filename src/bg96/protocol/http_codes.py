"""The HTTP(S) manual's error codes (chapter 5) and their texts: the engine answers with
them, the host driver's typed errors carry them. Pure data."""

from __future__ import annotations

HTTP_ERROR_TEXT: dict[int, str] = {
    701: "HTTP(S) unknown error",
    702: "HTTP(S) timeout",
    703: "HTTP(S) busy",
    704: "HTTP(S) UART busy",
    705: "HTTP(S) no GET/POST requests",
    706: "HTTP(S) network busy",
    707: "HTTP(S) network open failed",
    708: "HTTP(S) network no config",
    709: "HTTP(S) network deactivated",
    710: "HTTP(S) network error",
    711: "HTTP(S) URL error",
    712: "HTTP(S) empty URL",
    713: "HTTP(S) IP address error",
    714: "HTTP(S) DNS error",
    715: "HTTP(S) socket create error",
    716: "HTTP(S) socket connect error",
    717: "HTTP(S) socket read error",
    718: "HTTP(S) socket write error",
    719: "HTTP(S) socket closed",
    720: "HTTP(S) data encode error",
    721: "HTTP(S) data decode error",
    722: "HTTP(S) read timeout",
    723: "HTTP(S) response failed",
    724: "incoming call busy",
    725: "voice call busy",
    726: "input timeout",
    727: "wait data timeout",
    728: "wait HTTP(S) response timeout",
    729: "alloc memory fail",
    730: "invalid parameter",
}
