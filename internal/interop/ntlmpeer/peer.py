#!/usr/bin/env python3
"""An NTLM peer driven line by line over stdin/stdout, for gossp's interop tests.

One side of an NTLMSSP handshake is played by a third-party implementation, the other
by the Go test:

  samba-client     Samba's ntlm_auth --helper-protocol=ntlmssp-client-1 (initiator)
  samba-server     Samba's ntlm_auth --helper-protocol=squid-2.5-ntlmssp with
                   --password, so it checks the response locally, without winbindd
                   (acceptor)
  impacket-client  impacket.ntlm getNTLMSSPType1/getNTLMSSPType3, NTLMv2 (initiator);
                   after the handshake it signs and seals with impacket's own
                   ntlm.SIGN/ntlm.SEAL and the keys impacket's SIGNKEY/SEALKEY derive
  samba-spnego-client
                   Samba's ntlm_auth --helper-protocol=gss-spnego-client (initiator):
                   whole SPNEGO tokens around Samba's NTLMSSP; --features names the
                   NTLMSSP_FEATURE_* it asks for (its SF request) before it starts; a
                   token on its first step is the acceptor's NegTokenInit2
  samba-spnego-server
                   Samba's ntlm_auth --helper-protocol=gss-spnego with --password, so it
                   checks the response locally (acceptor); STEP - on its first step
                   returns its NegTokenInit2 (acceptor first)
  impacket-spnego-client
                   impacket-client inside impacket.spnego's SPNEGO_NegTokenInit and
                   SPNEGO_NegTokenResp (initiator); impacket sends no mechListMIC

Arguments: --role ROLE --user U --domain D --password P [--workstation W]
           [--ntlm-auth PATH --configfile SMB.CONF]   (samba roles)
           [--features NTLMSSP_FEATURE_SIGN,...]      (samba-spnego-client)

Every binary value travels as hex, "-" for none. Requests and answers:
  STEP <hex or ->      -> TOKEN <hex or -> CONTINUE|COMPLETE
                          DENIED <text>  (samba-server, samba-spnego-server: ntlm_auth
                          answered NA; the SPNEGO clients: they refused the acceptor's
                          token)
  KEY                  -> OK <hex>        the exported session key
  FLAGS                -> OK <8 hex>      the negotiated NTLMSSP flags
  USER                 -> OK <hex>        samba-server, samba-spnego-server: the name
                                          ntlm_auth authenticated (UTF-8)
  SEAL <msg>           -> OK <hex>        impacket: 16-byte signature || sealed message
  UNSEAL <token>       -> OK <hex>        impacket: checks the signature, returns the message
  SIGN <msg>           -> OK <hex>        impacket: 16-byte signature
  VERIFY <msg> <sig>   -> OK
  QUIT
Any failure answers ERROR <text>; the peer keeps serving and the test decides.
"""
import argparse, base64, binascii, subprocess, sys


def h(b):
    return binascii.hexlify(b).decode() if b else '-'


def unh(s):
    return b'' if s == '-' else binascii.unhexlify(s)


class PeerError(Exception):
    pass


class Denied(Exception):
    pass


class NtlmAuth:
    """One ntlm_auth helper process; each request is one line, each answer one line."""

    def __init__(self, a, proto):
        cmd = [a.ntlm_auth, '--configfile=' + a.configfile, '--helper-protocol=' + proto,
               '--username=' + a.user, '--domain=' + a.domain, '--password=' + a.password]
        if a.workstation:
            cmd.append('--workstation=' + a.workstation)
        # stderr goes to ours, which the Go driver keeps for its error messages.
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def tx(self, line):
        self.p.stdin.write(line + '\n')
        self.p.stdin.flush()
        r = self.p.stdout.readline()
        if not r:
            raise PeerError('ntlm_auth exited (status %s)' % self.p.poll())
        f = r.strip().split(' ', 1)
        return f[0], (f[1] if len(f) > 1 else '')

    def key(self):
        code, rest = self.tx('GK')
        if code != 'GK':
            raise PeerError('ntlm_auth has no session key: %s %s' % (code, rest))
        return base64.b64decode(rest)

    def flags(self):
        code, rest = self.tx('GF')
        if code != 'GF':
            raise PeerError('ntlm_auth gives no flags: %s %s' % (code, rest))
        return int(rest, 16)

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=5)
        except Exception:
            self.p.kill()


class SambaClient:
    def __init__(self, a):
        self.na = NtlmAuth(a, 'ntlmssp-client-1')
        self.started = False

    def step(self, tok):
        if not self.started:
            if tok:
                raise PeerError('the initiator takes no input on its first step')
            self.started = True
            code, rest = self.na.tx('YR')
            if code != 'YR':
                raise PeerError('YR answered %s %s' % (code, rest))
            return base64.b64decode(rest), False
        code, rest = self.na.tx('TT ' + base64.b64encode(tok).decode())
        # KK: more to come; AF: this AUTHENTICATE is the last token.
        if code not in ('KK', 'AF'):
            raise PeerError('TT answered %s %s' % (code, rest))
        return base64.b64decode(rest), code == 'AF'


class SambaServer:
    def __init__(self, a):
        self.na = NtlmAuth(a, 'squid-2.5-ntlmssp')
        self.user = None

    def step(self, tok):
        if len(tok) < 12:
            raise PeerError('no NTLMSSP message')
        req = 'YR ' if tok[8] == 1 else 'KK '     # NEGOTIATE starts, anything else continues
        code, rest = self.na.tx(req + base64.b64encode(tok).decode())
        if code == 'TT':
            return base64.b64decode(rest), False
        if code == 'AF':
            self.user = rest
            return b'', True
        if code == 'NA':
            raise Denied(rest)
        raise PeerError('%s %s' % (code, rest))


class ImpacketClient:
    def __init__(self, a):
        from impacket import ntlm
        from Cryptodome.Cipher import ARC4
        self.ntlm, self.ARC4, self.a = ntlm, ARC4, a
        self.t1 = None
        self.key_ = None

    def step(self, tok):
        ntlm = self.ntlm
        if self.t1 is None:
            if tok:
                raise PeerError('the initiator takes no input on its first step')
            # signingRequired asks for SIGN, SEAL, ALWAYS_SIGN and KEY_EXCH. The message
            # is the 32-byte form, without VERSION: it is sent as impacket makes it.
            self.t1 = ntlm.getNTLMSSPType1(self.a.workstation or '', '', signingRequired=True, use_ntlmv2=True)
            return self.t1.getData(), False
        t3, key = ntlm.getNTLMSSPType3(self.t1, tok, self.a.user, self.a.password, self.a.domain, use_ntlmv2=True)
        self.flags_ = t3['flags']
        self.key_ = key
        f = self.flags_
        self.client_sign = ntlm.SIGNKEY(f, key, 'Client')
        self.server_sign = ntlm.SIGNKEY(f, key, 'Server')
        self.send_handle = self.ARC4.new(ntlm.SEALKEY(f, key, 'Client')).encrypt
        self.recv_handle = self.ARC4.new(ntlm.SEALKEY(f, key, 'Server')).encrypt
        self.send_seq = 0
        self.recv_seq = 0
        return t3.getData(), True

    def key(self):
        if self.key_ is None:
            raise PeerError('no session key before the handshake ends')
        return self.key_

    def flags(self):
        if self.key_ is None:
            raise PeerError('no flags before the handshake ends')
        return self.flags_

    def _established(self):
        if self.key_ is None:
            raise PeerError('the handshake has not ended')

    def seal(self, msg):
        self._established()
        sealed, sig = self.ntlm.SEAL(self.flags_, self.client_sign, None, msg, msg, self.send_seq, self.send_handle)
        self.send_seq += 1
        return sig.getData() + sealed

    def sign(self, msg):
        self._established()
        sig = self.ntlm.SIGN(self.flags_, self.client_sign, msg, self.send_seq, self.send_handle)
        self.send_seq += 1
        return sig.getData()

    def unseal(self, tok):
        self._established()
        if len(tok) < 16:
            raise PeerError('token of %d bytes is shorter than a signature' % len(tok))
        sig, sealed = tok[:16], tok[16:]
        # RC4 is symmetric: the receiving handle decrypts, then signs, in the order the
        # sender sealed and signed.
        msg = self.recv_handle(sealed)
        self._check(msg, sig)
        return msg

    def verify(self, msg, sig):
        self._established()
        self._check(msg, sig)

    def _check(self, msg, sig):
        want = self.ntlm.SIGN(self.flags_, self.server_sign, msg, self.recv_seq, self.recv_handle).getData()
        if want != sig:
            raise PeerError('signature mismatch: got %s, impacket computes %s' % (h(sig), h(want)))
        self.recv_seq += 1


class SambaSpnegoClient:
    """ntlm_auth --helper-protocol=gss-spnego-client. Its line protocol, learnt by
    trying it (Samba 4.17): SF <features> -> OK; YR -> YR <NegTokenInit>, or YR <the
    acceptor's NegTokenInit2> -> KK <NegTokenInit>; TT <token> -> KK <token> (more to
    come), AF <token>|AF (done), NA <status> (refused) or BH <text> (broken helper).
    Tokens are base64, whole SPNEGO tokens."""

    def __init__(self, a):
        self.na = NtlmAuth(a, 'gss-spnego-client')
        self.features = [f for f in a.features.split(',') if f]
        self.started = False

    def step(self, tok):
        if not self.started:
            # A token on the first step is the acceptor's NegTokenInit2 (acceptor first).
            self.started = True
            if self.features:
                code, rest = self.na.tx('SF ' + ' '.join(self.features))
                if code != 'OK':
                    raise PeerError('SF answered %s %s' % (code, rest))
            code, rest = self.na.tx('YR ' + base64.b64encode(tok).decode() if tok else 'YR')
            if code not in ('YR', 'KK'):
                raise PeerError('YR answered %s %s' % (code, rest))
            return base64.b64decode(rest), False
        code, rest = self.na.tx('TT ' + base64.b64encode(tok).decode())
        if code == 'KK':
            return base64.b64decode(rest), False
        if code == 'AF':
            return (b'' if rest in ('', '*') else base64.b64decode(rest)), True
        if code == 'NA':
            raise Denied(rest)
        raise PeerError('TT answered %s %s' % (code, rest))


class SambaSpnegoServer:
    """ntlm_auth --helper-protocol=gss-spnego with --password: a SPNEGO acceptor that
    checks the NTLM response locally, without winbindd. Its line protocol (Samba 4.17):
    YR -> TT <NegTokenInit2> * (acceptor first); YR <token> (the first) or KK <token> ->
    TT <token> * (more to come), AF <token>|* <DOMAIN\\user> (accepted), NA <token>|*
    <status> (refused). Tokens are base64, whole SPNEGO tokens."""

    def __init__(self, a):
        self.na = NtlmAuth(a, 'gss-spnego')
        self.started = False
        self.user = None

    def step(self, tok):
        if not tok and self.started:
            raise PeerError('the acceptor needs a token')
        req = ('KK ' if self.started else 'YR ') + base64.b64encode(tok).decode() if tok else 'YR'
        self.started = True
        code, rest = self.na.tx(req)
        f = rest.split(' ', 1)
        out = b'' if f[0] in ('', '*') else base64.b64decode(f[0])
        arg = f[1] if len(f) > 1 else ''
        if code == 'TT':
            return out, False
        if code == 'AF':
            self.user = arg
            return out, True
        if code == 'NA':
            raise Denied('%s (token %s)' % (arg, h(out)))
        raise PeerError('%s answered %s %s' % (req[:2], code, rest))


class ImpacketSpnegoClient(ImpacketClient):
    """impacket's NTLM client wrapped by impacket.spnego, as impacket's SMB client does:
    a NegTokenInit offering NTLMSSP alone with the NEGOTIATE, a NegTokenResp with the
    AUTHENTICATE and no mechListMIC, then the acceptor's last NegTokenResp."""

    def __init__(self, a):
        super().__init__(a)
        from impacket import spnego
        self.spnego = spnego
        self.done = False

    def step(self, tok):
        sp = self.spnego
        if self.t1 is None:
            t1, _ = super().step(tok)
            init = sp.SPNEGO_NegTokenInit()
            init['MechTypes'] = [sp.TypesMech['NTLMSSP - Microsoft NTLM Security Support Provider']]
            init['MechToken'] = t1
            return init.getData(), False
        if self.done:
            raise PeerError('the handshake has ended')
        resp = sp.SPNEGO_NegTokenResp(tok)
        state = resp.fields.get('NegState')
        if self.key_ is None:
            if state != b'\x01':
                raise PeerError('the CHALLENGE came with negState %r, not accept-incomplete' % state)
            t3, _ = super().step(resp['ResponseToken'])
            out = sp.SPNEGO_NegTokenResp()
            out['ResponseToken'] = t3
            return out.getData(), False
        # The acceptor's verdict on the AUTHENTICATE.
        if state != b'\x00':
            raise Denied('negState %r' % state)
        self.done = True
        return b'', True


ROLES = {'samba-client': SambaClient, 'samba-server': SambaServer, 'impacket-client': ImpacketClient,
         'samba-spnego-client': SambaSpnegoClient, 'samba-spnego-server': SambaSpnegoServer,
         'impacket-spnego-client': ImpacketSpnegoClient}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--role', required=True, choices=sorted(ROLES))
    ap.add_argument('--user', required=True)
    ap.add_argument('--domain', default='')
    ap.add_argument('--password', required=True)
    ap.add_argument('--workstation', default='')
    ap.add_argument('--ntlm-auth', default='ntlm_auth')
    ap.add_argument('--configfile')
    ap.add_argument('--features', default='')
    a = ap.parse_args()
    peer = ROLES[a.role](a)

    out = sys.stdout
    for line in sys.stdin:
        f = line.split()
        if not f:
            continue
        if f[0] == 'QUIT':
            break
        try:
            if f[0] == 'STEP':
                tok, done = peer.step(unh(f[1]) if len(f) > 1 else b'')
                out.write('TOKEN %s %s\n' % (h(tok), 'COMPLETE' if done else 'CONTINUE'))
            elif f[0] == 'KEY':
                out.write('OK %s\n' % h((peer.na if hasattr(peer, 'na') else peer).key()))
            elif f[0] == 'FLAGS':
                out.write('OK %08x\n' % (peer.na if hasattr(peer, 'na') else peer).flags())
            elif f[0] == 'USER' and isinstance(peer, (SambaServer, SambaSpnegoServer)):
                if peer.user is None:
                    raise PeerError('nobody has been authenticated')
                out.write('OK %s\n' % h(peer.user.encode()))
            elif f[0] == 'SEAL' and isinstance(peer, ImpacketClient):
                out.write('OK %s\n' % h(peer.seal(unh(f[1]))))
            elif f[0] == 'UNSEAL' and isinstance(peer, ImpacketClient):
                out.write('OK %s\n' % h(peer.unseal(unh(f[1]))))
            elif f[0] == 'SIGN' and isinstance(peer, ImpacketClient):
                out.write('OK %s\n' % h(peer.sign(unh(f[1]))))
            elif f[0] == 'VERIFY' and isinstance(peer, ImpacketClient):
                peer.verify(unh(f[1]), unh(f[2]))
                out.write('OK\n')
            else:
                out.write('ERROR %s: unknown request %s\n' % (a.role, f[0]))
        except Denied as e:
            out.write('DENIED %s\n' % str(e).replace('\n', ' '))
        except Exception as e:  # report, keep serving: the test decides what is fatal
            out.write('ERROR %s: %s\n' % (type(e).__name__, str(e).replace('\n', ' ')))
        out.flush()
    if hasattr(peer, 'na'):
        peer.na.close()


if __name__ == '__main__':
    main()
