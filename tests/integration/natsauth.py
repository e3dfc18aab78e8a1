"""Credentials for the NATS tests that log in (test_bridge_auth.py), made
on the spot: NKeys and the JWTs of NATS's operator mode (Ed25519, by
python3-cryptography), creds files, and a small PKI made with the
openssl command (a CA, server and client certificates).  Nothing here
talks to a server.

The encodings are those of nats-io/nkeys and nats-io/jwt (v2):

- an NKey is base32 (RFC 4648, no padding) of a prefix byte (the key's
  role: O operator, A account, U user), the 32-byte Ed25519 public key,
  and a CRC-16 (XMODEM) of those, little-endian;
- its seed is base32 of two bytes (the seed's prefix S and the role),
  the 32-byte Ed25519 seed, and the CRC-16;
- a JWT is header.claims.signature, each base64url without padding, the
  header {"typ":"JWT","alg":"ed25519-nkey"}, the signature that of the
  issuer's key over "header.claims"; the claims say iss (the issuer's
  public NKey), sub (the subject's), and under "nats" the type and what
  it may do.
"""

import base64
import json
import os
import secrets
import socket
import ssl
import subprocess
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

PREFIX_SEED = 18 << 3
PREFIX = {"operator": 14 << 3, "account": 0, "user": 20 << 3}


def _crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def _b32(raw):
    return base64.b32encode(raw).decode().rstrip("=")


def _with_crc(raw):
    return raw + _crc16(raw).to_bytes(2, "little")


class NKey:
    """An Ed25519 key pair of one role (operator, account, user)."""

    def __init__(self, role, seed=None):
        self.role = role
        self.raw_seed = seed or secrets.token_bytes(32)
        self.key = ed25519.Ed25519PrivateKey.from_private_bytes(self.raw_seed)
        pub = self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public = _b32(_with_crc(bytes([PREFIX[role]]) + pub))

    @property
    def seed(self):
        p = PREFIX[self.role]
        return _b32(_with_crc(bytes([PREFIX_SEED | p >> 5, (p & 31) << 3])
                              + self.raw_seed))

    def sign(self, data):
        return self.key.sign(data)


def _b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(issuer, subject, name, nats):
    """A JWT for subject's public NKey, signed by issuer (an NKey), with
    nats as its "nats" claims (type and version added)."""
    claims = {"jti": _b32(secrets.token_bytes(32)), "iat": int(time.time()),
              "iss": issuer.public, "name": name, "sub": subject.public,
              "nats": dict(nats, version=2)}
    head = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = _b64(json.dumps(claims).encode())
    sig = _b64(issuer.sign(("%s.%s" % (head, body)).encode()))
    return "%s.%s.%s" % (head, body, sig)


UNLIMITED = {"subs": -1, "data": -1, "payload": -1, "imports": -1,
             "exports": -1, "wildcards": True, "conn": -1, "leaf": -1}
JETSTREAM = {"mem_storage": -1, "disk_storage": -1, "streams": -1,
             "consumer": -1}


class Operator:
    """An operator, its system account and accounts, for a server in
    operator mode with the memory resolver: config() is what goes in the
    server's configuration, creds() a user's creds file."""

    def __init__(self, name="natstest"):
        self.key = NKey("operator")
        self.jwt = jwt(self.key, self.key, name, {"type": "operator"})
        self.accounts = {}
        self.system = self.account("SYS", jetstream=False)

    def account(self, name, jetstream=True):
        """A new account: its NKey; its JWT goes in config()."""
        key = NKey("account")
        limits = dict(UNLIMITED, **(JETSTREAM if jetstream else {}))
        self.accounts[name] = (key, jwt(self.key, key, name, {
            "type": "account", "limits": limits}))
        return key

    def user(self, account, name, pub=None, sub=None):
        """A user of account (its NKey), allowed to publish to pub and
        subscribe to sub (lists of subjects; None: anything).  Returns
        (NKey, JWT)."""
        key = NKey("user")
        claims = {"type": "user", "subs": -1, "data": -1, "payload": -1}
        if pub is not None:
            claims["pub"] = {"allow": list(pub)}
        if sub is not None:
            claims["sub"] = {"allow": list(sub)}
        return key, jwt(account, key, name, claims)

    def config(self):
        """Server configuration lines for this operator."""
        pre = ",\n".join('  %s: "%s"' % (k.public, j)
                         for k, j in self.accounts.values())
        return ('operator: "%s"\nsystem_account: %s\nresolver: MEMORY\n'
                'resolver_preload: {\n%s\n}\n' % (
                    self.jwt, self.system.public, pre))


def creds(key, token):
    """A creds file's text: the user's JWT and its NKey seed."""
    return ("-----BEGIN NATS USER JWT-----\n%s\n------END NATS USER JWT------"
            "\n\n************************* IMPORTANT *************************"
            "\nNKEY Seed printed below can be used to sign and prove identity."
            "\nNKEYs are sensitive and should be treated as secrets.\n\n"
            "-----BEGIN USER NKEY SEED-----\n%s\n------END USER NKEY SEED----"
            "--\n\n*************************************************************"
            "\n" % (token, key.seed))


def secret_file(path, text, mode=0o600):
    """Write text to path, mode mode (owner only, by default)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _ec_request(cwd, name, subject, san):
    _openssl("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-subj", subject, "-addext",
             "subjectAltName=" + san, "-keyout", name + "-key.pem", "-out",
             name + ".csr", cwd=cwd)


class PKI:
    """A CA (ca.pem) in directory d, and certificates it signs: server()
    for 127.0.0.1 and localhost, client(name) with the email SAN
    name@ipcfs (what verify_and_map maps to a user); other_ca() is a CA
    the servers do not know.  Keys are mode 600."""

    def __init__(self, d):
        self.d = d
        self.ca = os.path.join(d, "ca.pem")
        self._ca("ca", "/CN=natstest CA")

    def _ca(self, name, subject):
        _openssl("req", "-x509", "-new", "-nodes", "-newkey", "ec",
                 "-pkeyopt", "ec_paramgen_curve:P-256", "-subj", subject,
                 "-days", "2", "-keyout", name + "-key.pem", "-out",
                 name + ".pem", cwd=self.d)
        os.chmod(os.path.join(self.d, name + "-key.pem"), 0o600)

    def _sign(self, name, subject, san):
        _ec_request(self.d, name, subject, san)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem",
                 "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "2",
                 "-copy_extensions", "copy", "-out", name + ".pem",
                 cwd=self.d)
        os.chmod(os.path.join(self.d, name + "-key.pem"), 0o600)
        return (os.path.join(self.d, name + ".pem"),
                os.path.join(self.d, name + "-key.pem"))

    def server(self, name="server"):
        return self._sign(name, "/CN=natstest server",
                          "DNS:localhost,IP:127.0.0.1")

    def client(self, user):
        return self._sign("client-" + user, "/CN=" + user,
                          "email:%s@ipcfs" % user)

    def other_ca(self):
        self._ca("other-ca", "/CN=an unknown CA")
        return os.path.join(self.d, "other-ca.pem")


class Client:
    """A small NATS client that logs in (user and password, over TLS if
    ca is given) and makes requests, with replies to subjects under
    inbox: enough to act as another user of the server.  err holds the
    last -ERR the server sent (a permissions violation, say), or
    None."""

    def __init__(self, host, port, user=None, password=None, ca=None,
                 timeout=10.0, inbox="_INBOX.natsauth"):
        self.timeout = timeout
        self.inbox = inbox
        self.err = None
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.f = self.sock.makefile("rb")
        if not self._line().startswith(b"INFO "):
            raise ConnectionError("no INFO from %s:%d" % (host, port))
        if ca is not None:
            ctx = ssl.create_default_context(cafile=ca)
            self.sock = ctx.wrap_socket(self.sock, server_hostname=host)
            self.f = self.sock.makefile("rb")
        hello = {"verbose": False, "pedantic": False, "headers": True,
                 "no_responders": True, "protocol": 1, "name": "natsauth"}
        if user is not None:
            hello.update(user=user, **{"pass": password})
        self.sock.sendall(b"CONNECT %s\r\nPING\r\n" %
                          json.dumps(hello).encode())
        while True:
            line = self._line()
            if line.startswith(b"-ERR"):
                raise ConnectionError(line.decode())
            if line.startswith(b"PONG"):
                break
        self.sid = 0

    def _line(self):
        got = self.f.readline()
        if not got:
            raise ConnectionError("the server closed the connection")
        return got.rstrip(b"\r\n")

    def close(self):
        self.sock.close()

    def publish(self, subject, data=b"", reply=None):
        self.sock.sendall(b"PUB %s %s%d\r\n%s\r\n" % (
            subject.encode(), (reply + " ").encode() if reply else b"",
            len(data), data))

    def request(self, subject, data=b"", timeout=None):
        """The reply's payload (bytes), or None if none came in time (or
        the server refused the request: then err says why)."""
        self.sid += 1
        self.err = None
        inbox = "%s.%d.%d" % (self.inbox, os.getpid(), self.sid)
        self.sock.sendall(b"SUB %s %d\r\n" % (inbox.encode(), self.sid))
        self.publish(subject, data, inbox)
        self.sock.sendall(b"PING\r\n")
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.sock.settimeout(left)
                words = self._line().split()
                if not words:
                    continue
                op = words[0].upper()
                if op == b"PING":
                    self.sock.sendall(b"PONG\r\n")
                elif op == b"-ERR":
                    self.err = b" ".join(words[1:]).decode().strip("'")
                elif op == b"PONG" and self.err is not None:
                    return None         # refused: no reply comes
                elif op in (b"MSG", b"HMSG"):
                    size = int(words[-1])
                    payload = self.f.read(size + 2)[:size]
                    if op == b"HMSG":
                        hdr = int(words[-2])
                        if b" 503" in payload[:hdr].split(b"\r\n")[0]:
                            return None
                        payload = payload[hdr:]
                    return payload
        except socket.timeout:
            return None
        finally:
            self.sock.sendall(b"UNSUB %d\r\n" % self.sid)

    def subscribe_refused(self, subject):
        """Subscribe to subject: the server's -ERR if it refuses, None if
        it takes it."""
        self.sid += 1
        self.err = None
        self.sock.sendall(b"SUB %s %d\r\nPING\r\n" % (subject.encode(),
                                                       self.sid))
        self.sock.settimeout(self.timeout)
        while True:
            line = self._line()
            if line.startswith(b"-ERR"):
                self.err = line[5:].decode().strip("' ")
            elif line.startswith(b"PONG"):
                return self.err

    def jsapi(self, subject, body=None):
        """A JetStream API request ("STREAM.NAMES", ...): the reply as a
        dict, or None."""
        got = self.request("$JS.API." + subject,
                           json.dumps(body or {}).encode())
        return json.loads(got) if got else None
