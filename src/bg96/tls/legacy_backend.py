"""The legacy backend: tlslite-ng, for offers OpenSSL 3 cannot make (SSL 3.0, RC4, 3DES).

tlslite-ng is a pure-Python TLS library whose handshake runs as a generator that yields
when its socket would block; here the socket is a pair of byte buffers, so it runs sans-IO
like the OpenSSL backend. What is changed around it:

- its ClientHello is reshaped to the module's offer (table-2 order, the renegotiation SCSV
  last, the extensions and lists OpenSSL sends, TLS 1.0 record version): where both
  libraries can make an offer, their ClientHellos are the same bytes but for the random;
- it does not verify certificate chains, so ``certs.verify_chain`` does, at the point
  where OpenSSL would (on the server's Certificate, with the same alert);
- its ciphers, and X25519/X448, run in OpenSSL through ``cryptography`` instead of pure
  Python (bulk data some 100 times faster, a handshake three times);
- after the handshake, records are framed here and sealed/opened with tlslite's
  connection states, without its per-record generator machinery.
tlslite-ng is pinned to 0.8.x: the record-layer methods used here are its internals.
"""

from __future__ import annotations

import errno
import hmac
import types
import warnings
from collections.abc import Callable, Generator, Iterator
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import x448, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .certs import (
    ChainError,
    ca_certs,
    client_credentials,
    credentials_pem,
    verify_chain,
)
from .common import (
    EXT_EC_POINT_FORMATS,
    EXT_SERVER_NAME,
    EXT_SIGNATURE_ALGORITHMS,
    EXT_SUPPORTED_GROUPS,
    EXTENSION_ORDER,
    GROUP_NAMES,
    POINT_FORMATS,
    SCSV_RENEGOTIATION,
    SIGNATURE_ALGORITHMS,
    BackendSession,
    HandshakeError,
    KeyLog,
    ReadResult,
    TlsPlan,
    alert_name,
    keylog_line,
    sni_name,
)
from .errors import TlsConfigError
from .openssl_backend import verify_reason

_decrepit: types.ModuleType
try:
    from cryptography.hazmat.decrepit.ciphers import algorithms as _decrepit
except ImportError:  # cryptography 42 still had RC4 and 3DES among the primitives
    _decrepit = algorithms
ARC4: Callable[[bytes], CipherAlgorithm] = _decrepit.ARC4
TripleDES: Callable[[bytes], CipherAlgorithm] = _decrepit.TripleDES

with warnings.catch_warnings():
    # tlslite.api imports asyncore, deprecated in Python 3.11 (0.8 skips it on 3.12+)
    warnings.simplefilter("ignore", DeprecationWarning)
    import tlslite as _tlslite  # type: ignore[import-untyped]
    from tlslite import keyexchange as _keyexchange
    from tlslite.constants import AlertDescription  # type: ignore[import-untyped]
    from tlslite.errors import (  # type: ignore[import-untyped]
        BaseTLSException,
        TLSAbruptCloseError,
        TLSBadRecordMAC,
        TLSDecryptionFailed,
        TLSLocalAlert,
        TLSRemoteAlert,
    )
    from tlslite.extensions import (  # type: ignore[import-untyped]
        ECPointFormatsExtension,
        SignatureAlgorithmsExtension,
        SNIExtension,
    )
    from tlslite.handshakesettings import HandshakeSettings  # type: ignore[import-untyped]
    from tlslite.messages import ClientHello  # type: ignore[import-untyped]
    from tlslite.recordlayer import RecordLayer  # type: ignore[import-untyped]
    from tlslite.tlsconnection import TLSConnection  # type: ignore[import-untyped]
    from tlslite.utils import cipherfactory  # type: ignore[import-untyped]
    from tlslite.utils.keyfactory import parsePEMKey  # type: ignore[import-untyped]
    from tlslite.x509certchain import X509CertChain  # type: ignore[import-untyped]


VERSION_TUPLES: dict[str, tuple[int, int]] = {
    "SSLv3": (3, 0),
    "TLSv1": (3, 1),
    "TLSv1.1": (3, 2),
    "TLSv1.2": (3, 3),
}
_VERSION_NAMES = {t: n for n, t in VERSION_TUPLES.items()}
TLSLITE_VERSION = str(getattr(_tlslite, "__version__", "0.8"))


# ---- ciphers through cryptography ----------------------------------------------------


class _Cbc:
    """A CBC cipher with the state tlslite expects: one direction, IV chained across calls."""

    isBlockCipher = True
    isAEAD = False
    implementation = "openssl"

    def __init__(self, algorithm: CipherAlgorithm, iv: bytes, name: str, block: int) -> None:
        self._cipher = Cipher(algorithm, modes.CBC(bytes(iv)))
        self._enc: Any = None
        self._dec: Any = None
        self.name = name
        self.block_size = block

    def encrypt(self, data: bytearray) -> bytearray:
        if self._enc is None:
            self._enc = self._cipher.encryptor()
        return bytearray(self._enc.update(bytes(data)))

    def decrypt(self, data: bytearray) -> bytearray:
        if self._dec is None:
            self._dec = self._cipher.decryptor()
        return bytearray(self._dec.update(bytes(data)))


class _Rc4:
    isBlockCipher = False
    isAEAD = False
    implementation = "openssl"
    name = "rc4"

    def __init__(self, key: bytes) -> None:
        self._ctx = Cipher(ARC4(bytes(key)), mode=None).encryptor()

    def encrypt(self, data: bytearray) -> bytearray:
        return bytearray(self._ctx.update(bytes(data)))

    decrypt = encrypt


class _Gcm:
    isBlockCipher = False
    isAEAD = True
    implementation = "openssl"
    nonceLength = 12
    tagLength = 16

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(bytes(key))
        self.name = "aes128gcm" if len(key) == 16 else "aes256gcm"
        self.key = key

    def seal(self, nonce: bytearray, plaintext: bytearray | memoryview, data: bytearray) -> bytes:
        return self._aead.encrypt(nonce, plaintext, data)  # tlslite prepends the nonce to it

    def open(
        self, nonce: bytearray, ciphertext: bytearray | memoryview, data: bytearray
    ) -> bytearray | None:
        try:
            return bytearray(self._aead.decrypt(nonce, ciphertext, data))
        except InvalidTag:
            return None


def _aes(key: bytes, iv: bytes, _impl: object = None) -> _Cbc:
    return _Cbc(algorithms.AES(bytes(key)), iv, f"aes{len(key) * 8}", 16)


def _3des(key: bytes, iv: bytes, _impl: object = None) -> _Cbc:
    return _Cbc(TripleDES(bytes(key)), iv, "3des", 8)


def _rc4(key: bytes, _iv: bytes, _impl: object = None) -> _Rc4:
    return _Rc4(key)


def _gcm(key: bytes, _impl: object = None) -> _Gcm:
    return _Gcm(key)


_FAST: dict[Callable[..., Any], Callable[..., Any]] = {
    cipherfactory.createAES: _aes,
    cipherfactory.createTripleDES: _3des,
    cipherfactory.createRC4: _rc4,
    cipherfactory.createAESGCM: _gcm,
}


def _x25519(k: bytes, u: bytes) -> bytearray:
    """tlslite's X25519 scalar multiplication, by OpenSSL (tlslite's own is pure Python)."""
    key = x25519.X25519PrivateKey.from_private_bytes(bytes(k))
    if bytes(u) == _X25519_BASE:
        return bytearray(key.public_key().public_bytes_raw())
    try:
        return bytearray(key.exchange(x25519.X25519PublicKey.from_public_bytes(bytes(u))))
    except ValueError:  # an all-zero result; tlslite rejects it after the call
        return bytearray(32)


def _x448(k: bytes, u: bytes) -> bytearray:
    key = x448.X448PrivateKey.from_private_bytes(bytes(k))
    if bytes(u) == _X448_BASE:
        return bytearray(key.public_key().public_bytes_raw())
    try:
        return bytearray(key.exchange(x448.X448PublicKey.from_public_bytes(bytes(u))))
    except ValueError:
        return bytearray(56)


_X25519_BASE = bytes(_keyexchange.X25519_G)
_X448_BASE = bytes(_keyexchange.X448_G)
# The same functions, some 200 times faster: X25519 in pure Python took 1.2 ms per use,
# two thirds of a handshake. tlslite looks them up in this module at each key exchange.
_keyexchange.x25519 = _x25519
_keyexchange.x448 = _x448


class _FastRecordLayer(RecordLayer):  # type: ignore[misc]
    """tlslite's record layer with the bulk ciphers of ``cryptography``.

    CBC records are checked with one MAC computation, as OpenSSL did before Lucky 13,
    instead of tlslite's pure-Python constant-time routine (a MAC per possible padding
    length, which made CBC suites fifteen times slower than AES-GCM).
    """

    @staticmethod
    def _getCipherSettings(cipherSuite: int) -> tuple[int, int, Any]:
        key_length, iv_length, create = RecordLayer._getCipherSettings(cipherSuite)
        return key_length, iv_length, _FAST.get(create, create)

    def _decryptThenMAC(self, recordType: int, data: bytearray) -> bytearray:
        state = self._readState
        enc = state.encContext
        if not enc or not state.macContext:
            plain: bytearray = super()._decryptThenMAC(recordType, data)
            return plain
        block = enc.block_size
        if len(data) % block:
            raise TLSDecryptionFailed()
        data = enc.decrypt(data)
        if self.version >= (3, 2):  # TLS 1.1 and up: an explicit IV leads the record
            data = data[block:]
        mac_len = state.macContext.digest_size
        n = len(data)
        if n < mac_len + 1:
            raise TLSBadRecordMAC()
        pad = data[-1]
        ok = pad + 1 + mac_len <= n
        if ok and self.version == (3, 0):
            ok = pad < block
        elif ok:
            ok = data[n - 1 - pad : n - 1] == bytes((pad,)) * pad
        if not ok:
            pad = 0  # the MAC is computed all the same
        end = n - pad - 1 - mac_len
        content = data[:end]
        expected = self.calculateMAC(
            state.macContext.copy(), state.getSeqNumBytes(), recordType, content
        )
        if not hmac.compare_digest(bytes(expected), bytes(data[end : end + mac_len])) or not ok:
            raise TLSBadRecordMAC()
        return content


class FastTLSConnection(TLSConnection):  # type: ignore[misc]
    """A tlslite-ng connection whose records are encrypted by ``cryptography``.

    Usable as a server too (the tests run SSL 3.0, RC4 and 3DES servers with it).
    """

    def __init__(self, sock: Any) -> None:
        super().__init__(sock)
        self._recordLayer = _FastRecordLayer(self.sock)


# ---- a socket over two buffers --------------------------------------------------------


class BufferSocket:
    """What tlslite reads and writes: bytes fed from TCP in, bytes for TCP out.

    ``recv`` raises EWOULDBLOCK when nothing is buffered, which makes tlslite's generators
    yield; ``b""`` means TCP EOF.
    """

    def __init__(self) -> None:
        self._in = bytearray()
        self._pos = 0
        self.out = bytearray()
        self.eof = False

    def feed(self, data: bytes) -> None:
        if data:
            if self._pos and self._pos == len(self._in):
                self._in.clear()
                self._pos = 0
            self._in += data
        else:
            self.eof = True

    @property
    def buffered(self) -> int:
        return len(self._in) - self._pos

    def take(self) -> bytes:
        out = bytes(self.out)
        self.out.clear()
        return out

    # the socket interface tlslite uses

    def send(self, data: bytes) -> int:
        self.out += data
        return len(data)

    def sendall(self, data: bytes) -> None:
        self.out += data

    def recv(self, bufsize: int) -> bytes:
        if self._pos >= len(self._in):
            if self.eof:
                return b""
            raise BlockingIOError(errno.EWOULDBLOCK, "no data buffered")
        end = self._pos + bufsize
        chunk = bytes(self._in[self._pos : end])
        self._pos += len(chunk)
        if self._pos == len(self._in):
            self._in.clear()
            self._pos = 0
        elif self._pos > 1 << 16:
            del self._in[: self._pos]
            self._pos = 0
        return chunk

    def close(self) -> None:
        pass


# ---- the client connection ------------------------------------------------------------

_VERIFY_ALERTS = {
    2: AlertDescription.unknown_ca,
    18: AlertDescription.unknown_ca,
    19: AlertDescription.unknown_ca,
    20: AlertDescription.unknown_ca,
    21: AlertDescription.unknown_ca,
    79: AlertDescription.unknown_ca,
    4: AlertDescription.decrypt_error,
    7: AlertDescription.decrypt_error,
    26: AlertDescription.unsupported_certificate,
}


class _ClientConnection(FastTLSConnection):
    """The module's client: the offer reshaped, the server's chain verified."""

    def __init__(
        self,
        sock: BufferSocket,
        plan: TlsPlan,
        anchors: list[x509.Certificate] | None,
        sni: str | None,
    ) -> None:
        super().__init__(sock)
        self._plan = plan
        self._anchors = anchors
        self._sni = sni
        self.client_random = b""
        self.verify_failure: str | None = None

    def _sendMsg(
        self, msg: Any, randomizeFirstBlock: bool = True, update_hashes: bool = True
    ) -> Iterator[int]:
        if isinstance(msg, ClientHello) and not self.client_random:
            self._shape(msg)
        result: Iterator[int] = super()._sendMsg(msg, randomizeFirstBlock, update_hashes)
        return result

    def _shape(self, hello: Any) -> None:
        """Make tlslite's ClientHello the module's (and OpenSSL's) ClientHello."""
        plan = self._plan
        self.client_random = bytes(hello.random)
        hello.cipher_suites = [*plan.codes, SCSV_RENEGOTIATION]
        ssl3_only = plan.versions[-1] == "SSLv3"
        self.version = (3, 0) if ssl3_only else (3, 1)  # the record carrying the hello
        if ssl3_only:
            hello.extensions = None
            return
        have = {ext.extType: ext for ext in hello.extensions or ()}
        if EXT_SIGNATURE_ALGORITHMS in have:
            pairs = [(code >> 8, code & 0xFF) for code in SIGNATURE_ALGORITHMS]
            have[EXT_SIGNATURE_ALGORITHMS] = SignatureAlgorithmsExtension().create(pairs)
        if EXT_EC_POINT_FORMATS in have:  # tlslite's settings refuse the char2 format
            have[EXT_EC_POINT_FORMATS] = ECPointFormatsExtension().create(list(POINT_FORMATS))
        if self._sni is not None:  # made here: tlslite refuses some names OpenSSL sends
            have[EXT_SERVER_NAME] = SNIExtension().create(bytearray(self._sni, "ascii"))
        skip = set() if plan.has_ecdhe else {EXT_EC_POINT_FORMATS, EXT_SUPPORTED_GROUPS}
        shaped = [have[t] for t in EXTENSION_ORDER if t in have and t not in skip]
        hello.extensions = shaped or None

    def _clientGetKeyFromChain(
        self, certificate: Any, settings: Any, tack_ext: Any = None
    ) -> Generator[Any, None, None]:
        if self._anchors is not None:
            chain = certificate.cert_chain
            ders = [bytes(c.bytes) for c in (chain.x509List if chain else ())]
            try:
                verify_chain([x509.load_der_x509_certificate(d) for d in ders], self._anchors)
            except ChainError as exc:
                self.verify_failure = verify_reason(exc.code, exc.message, "bg96 verifier")
                alert = _VERIFY_ALERTS.get(exc.code, AlertDescription.bad_certificate)
                yield from self._sendError(alert, self.verify_failure)
            except ValueError as exc:
                self.verify_failure = f"the server's certificate cannot be parsed ({exc})"
                yield from self._sendError(AlertDescription.bad_certificate, self.verify_failure)
        yield from super()._clientGetKeyFromChain(certificate, settings, tack_ext)


def _settings(plan: TlsPlan) -> Any:
    """tlslite settings that make a superset of the offer; ``_shape`` trims it to the plan."""
    s = HandshakeSettings()
    s.minVersion = VERSION_TUPLES[plan.versions[0]]
    s.maxVersion = VERSION_TUPLES[plan.versions[-1]]
    s.versions = [VERSION_TUPLES[v] for v in reversed(plan.versions)]
    s.cipherNames = ["aes256", "aes128", "rc4", "3des", "aes128gcm"]
    s.macNames = ["sha", "sha256", "sha384", "md5", "aead"]
    s.keyExchangeNames = ["rsa", "ecdhe_rsa"]
    s.eccCurves = list(GROUP_NAMES)
    s.ec_point_formats = [f for f in POINT_FORMATS if f != 2]
    s.keyShares = []
    s.useEncryptThenMAC = False
    s.useExtendedMasterSecret = False
    s.usePaddingExtension = False
    s.use_heartbeat_extension = False
    s.record_size_limit = None
    s.minKeySize = 512  # OpenSSL at security level 0 takes small RSA keys too
    return s


_LOCAL_REASONS: dict[int, str] = {
    AlertDescription.decrypt_error: "bad signature on the server's key exchange",
    AlertDescription.bad_record_mac: "bad record MAC: the handshake data was corrupted",
    AlertDescription.decode_error: "the server sent a malformed handshake message",
    AlertDescription.unexpected_message: "the server sent an unexpected handshake message",
    AlertDescription.insufficient_security: "the server's key exchange parameters are too weak",
    AlertDescription.record_overflow: "the server sent a record too long for TLS",
    AlertDescription.unsupported_extension: "the server answered with an extension not offered",
}


_APPLICATION_DATA, _ALERT, _HANDSHAKE = 23, 21, 22
_NO_RENEGOTIATION = 100
_MAX_FRAGMENT = 1 << 14
_MAX_RECORD = _MAX_FRAGMENT + 2048  # the most ciphertext RFC 5246 allows


class _Header:
    """What tlslite's AEAD opener reads of a record header (TLS 1.2: the type)."""

    __slots__ = ("type",)

    def __init__(self, ctype: int) -> None:
        self.type = ctype


def _record_error(exc: Exception) -> str:
    if isinstance(exc, TLSBadRecordMAC):
        return "bad record MAC (the data was corrupted or is not this connection's)"
    if isinstance(exc, TLSDecryptionFailed):
        return "a record that does not decrypt (length not a multiple of the block size)"
    return f"{type(exc).__name__}: {exc}"


class LegacySession(BackendSession):
    """A BackendSession run by tlslite-ng."""

    backend_name = "tlslite-ng"

    def __init__(
        self, plan: TlsPlan, server_hostname: str | None, keylog: KeyLog | None = None
    ) -> None:
        super().__init__(plan, keylog)
        params = plan.params
        self._cas = ca_certs(params) if params.seclevel != 0 else []
        cert_chain: Any = None
        private_key: Any = None
        if params.seclevel == 2:
            creds = client_credentials(params)
            if creds is not None:
                chain_pem, key_pem = credentials_pem(*creds)
                try:
                    cert_chain = X509CertChain()
                    cert_chain.parsePemList(chain_pem.decode("ascii"))
                    private_key = parsePEMKey(key_pem.decode("ascii"), private=True)
                except (SyntaxError, ValueError) as exc:
                    raise TlsConfigError(
                        f"tlslite-ng cannot use clientcert/clientkey ({exc})"
                    ) from None
        name = sni_name(server_hostname) if params.sni else None
        self._sock = BufferSocket()
        self._conn = _ClientConnection(
            self._sock, plan, self._cas if params.seclevel != 0 else None, name
        )
        self._hs: Iterator[Any] = self._conn.handshakeClientCert(
            cert_chain, private_key, settings=_settings(plan), async_=True
        )
        self._version = ""
        self._records = bytearray()  # received bytes not yet made into records
        self._out_extra = b""  # records the record layer queued (no_renegotiation)

    def _hello(self) -> bytes:
        for result in self._hs:
            if result == 0:
                break
        return self._sock.take()

    def _feed(self, data: bytes) -> None:
        if data and self._done:
            self._records += data  # records are framed here since _records_start
        else:
            self._sock.feed(data)

    def _advance(self) -> tuple[bytes, bool]:
        try:
            for result in self._hs:
                if result == 0:
                    return self._sock.take(), False
        except TLSRemoteAlert as exc:
            detail = f"tlslite-ng: {alert_name(exc.description)} alert received"
            raise HandshakeError(alert=exc.description, detail=detail) from None
        except TLSLocalAlert as exc:
            if self._conn.verify_failure is not None:
                raise HandshakeError(self._conn.verify_failure) from None
            detail = f"tlslite-ng: {exc.message or alert_name(exc.description)}"
            reason = _LOCAL_REASONS.get(exc.description, "TLS handshake failed")
            raise HandshakeError(reason, detail=detail) from None
        except TLSAbruptCloseError:
            raise HandshakeError(eof=True) from None
        except (BaseTLSException, SyntaxError, ValueError, AssertionError, IndexError) as exc:
            detail = f"tlslite-ng: {type(exc).__name__}: {exc}"
            raise HandshakeError("TLS handshake failed", detail=detail) from None
        major, minor = self._conn.version
        self._version = _VERSION_NAMES.get((major, minor), "")
        self._records_start()
        return self._sock.take(), True

    def _pending(self) -> bytes:
        extra, self._out_extra = self._out_extra, b""
        return self._sock.take() + extra

    # -- after the handshake: records framed here, sealed and opened by tlslite's states

    def _records_start(self) -> None:
        """Take over the bytes tlslite buffered; from now on records are framed here.

        tlslite's own read/write path costs some 15 us of Python per record; framing here
        and calling its per-record crypto directly is three times cheaper, and it writes
        records the way the OpenSSL backend does (no 1/n-1 split in TLS 1.0).
        """
        rl = self._conn._recordLayer
        self._rl = rl
        self._wire_version = bytes(rl.version)
        buffered = self._conn.sock._read_buffer  # tlslite's BufferedSocket
        self._records = bytearray(buffered)
        buffered.clear()
        while self._sock.buffered:
            self._records += self._sock.recv(1 << 20)

    def _open(self, ctype: int, payload: bytearray) -> bytearray:
        rl = self._rl
        enc = rl._readState.encContext
        if enc is not None and enc.isAEAD:
            plain: bytearray = rl._decryptAndUnseal(_Header(ctype), payload)
        elif enc is not None and enc.isBlockCipher:
            plain = rl._decryptThenMAC(ctype, payload)
        else:
            plain = rl._decryptStreamThenMAC(ctype, payload)
        return plain

    def _seal(self, ctype: int, data: bytes) -> bytes:
        rl = self._rl
        parts: list[bytes | bytearray] = []
        aead = rl._writeState.encContext is not None and rl._writeState.encContext.isAEAD
        seal = rl._encryptThenSeal if aead else rl._macThenEncrypt
        with memoryview(data) as view:
            for at in range(0, max(len(data), 1), _MAX_FRAGMENT):
                fragment = view[at : at + _MAX_FRAGMENT]
                # AES-GCM only measures and encrypts the fragment: a view will do; the other
                # ciphers pad and MAC it in place
                body = seal(fragment if aead else bytearray(fragment), ctype)
                fragment.release()
                parts.append(bytes((ctype,)) + self._wire_version + len(body).to_bytes(2, "big"))
                parts.append(body)
        return b"".join(parts)

    def _read(self) -> ReadResult:
        buf = self._records  # _feed puts what arrives after the handshake here
        chunks: list[bytearray] = []
        pos = 0
        result: ReadResult | None = None
        while len(buf) - pos >= 5:
            ctype = buf[pos]
            length = int.from_bytes(buf[pos + 3 : pos + 5], "big")
            if length > _MAX_RECORD:
                why = "TLS error: the server sent a record longer than TLS allows"
                result = ReadResult(closed=True, why=why)
                break
            if len(buf) - pos < 5 + length:
                break
            payload = buf[pos + 5 : pos + 5 + length]
            pos += 5 + length
            try:
                plain = self._open(ctype, payload)
            except (BaseTLSException, ValueError, AssertionError) as exc:
                why = f"TLS error: {_record_error(exc)}"
                result = ReadResult(closed=True, why=why)
                break
            if ctype == _APPLICATION_DATA:
                chunks.append(plain)  # joined once below
            elif ctype == _ALERT:
                if len(plain) != 2:
                    result = ReadResult(closed=True, why="TLS error: a malformed alert")
                    break
                if plain[1] == 0:
                    result = ReadResult(closed=True, why="the server sent a TLS close_notify")
                    break
                if plain[0] == 2:
                    why = f"TLS error: the server sent a fatal {alert_name(plain[1])} alert"
                    result = ReadResult(closed=True, why=why)
                    break
            elif ctype == _HANDSHAKE:  # a HelloRequest: the module does not renegotiate
                self._out_extra += self._seal(_ALERT, bytes((1, _NO_RENEGOTIATION)))
            else:
                why = f"TLS error: the server sent an unexpected record (type {ctype})"
                result = ReadResult(closed=True, why=why)
                break
        del buf[:pos]
        data = b"".join(chunks)
        if result is not None:
            return ReadResult(data, True, result.why)
        if self._sock.eof:
            return ReadResult(data, True, "the server closed TCP without a TLS close_notify")
        return ReadResult(data)

    def _encrypt(self, data: bytes) -> bytes:
        return self._seal(_APPLICATION_DATA, data)

    def _close_notify(self) -> bytes:
        return self._seal(_ALERT, b"\x01\x00")

    def _negotiated(self) -> tuple[str, int | None]:
        session = self._conn.session
        return self._version, (session.cipherSuite if session is not None else None)

    def _established(self) -> None:
        """tlslite's handshake state is no longer used (records are framed here, and no
        renegotiation is done): its hashes, the server's chain and the anchors go (the
        session keeps its suite)."""
        conn = self._conn
        conn._handshake_hash = None
        conn._certificate_verify_handshake_hash = None
        conn._pre_client_hello_handshake_hash = None
        conn._first_handshake_hashes = None
        conn._anchors = None
        if conn.session is not None:
            conn.session.serverCertChain = None
        self._cas = []

    def _peer_certificate(self) -> bytes | None:
        session = self._conn.session
        chain = session.serverCertChain if session is not None else None
        if not chain or not chain.x509List:
            return None
        return bytes(chain.x509List[0].bytes)

    def _keylog_lines(self) -> list[str]:
        session = self._conn.session
        if session is None:
            return []
        return [keylog_line(self._conn.client_random, bytes(session.masterSecret))]

    def _trust_anchors(self) -> list[x509.Certificate]:
        return self._cas


__all__ = ["TLSLITE_VERSION", "BufferSocket", "FastTLSConnection", "LegacySession"]
