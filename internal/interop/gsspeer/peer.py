#!/usr/bin/env python3
"""A GSS-API peer driven line by line over stdin/stdout, for gossp's interop tests.

It runs one side of a context with MIT GSS-API (python3-gssapi), so the mechanisms are
whatever MIT loads: krb5, SPNEGO, and gss-ntlmssp through GSS_MECH_CONFIG. The Go test
is the other side. Every value travels as hex.

Arguments: --role initiator|acceptor --mech ntlm|spnego|krb5 [--user U --password P]
           [--target service@host] [--flags integ,conf,...] [--spnego-mechs ntlm,krb5]
           [--cb HEX (application data of the channel bindings)]

Requests (one per line) and answers:
  STEP <hex or ->        -> TOKEN <hex or -> CONTINUE|COMPLETE   |  ERROR <text>
  WRAP <hex> <0|1>       -> OK <hex>            (1: encrypt)
  UNWRAP <hex>           -> OK <hex> <0|1>      (1: it was encrypted)
  MIC <hex>              -> OK <hex>
  VERIFY <msg> <mic>     -> OK
  INFO                   -> OK <json>           (names, mech, flags)
  QUIT
"""
import argparse, binascii, json, sys
import gssapi
import gssapi.raw as raw

MECHS = {
    'ntlm': '1.3.6.1.4.1.311.2.2.10',
    'spnego': '1.3.6.1.5.5.2',
    'krb5': '1.2.840.113554.1.2.2',
}
FLAGS = {
    'deleg': gssapi.RequirementFlag.delegate_to_peer,
    'mutual': gssapi.RequirementFlag.mutual_authentication,
    'replay': gssapi.RequirementFlag.replay_detection,
    'sequence': gssapi.RequirementFlag.out_of_sequence_detection,
    'conf': gssapi.RequirementFlag.confidentiality,
    'integ': gssapi.RequirementFlag.integrity,
}


def oid(name):
    return gssapi.OID.from_int_seq(MECHS[name])


def h(b):
    return binascii.hexlify(b).decode() if b else '-'


def unh(s):
    return b'' if s == '-' else binascii.unhexlify(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--role', required=True)
    ap.add_argument('--mech', required=True)
    ap.add_argument('--user')
    ap.add_argument('--password')
    ap.add_argument('--target')
    ap.add_argument('--flags', default='mutual,replay,sequence,conf,integ')
    ap.add_argument('--spnego-mechs')
    ap.add_argument('--cb')
    a = ap.parse_args()
    mech = oid(a.mech)
    flags = [FLAGS[f] for f in a.flags.split(',') if f]
    cb = None
    if a.cb:
        cb = gssapi.raw.ChannelBindings(application_data=unh(a.cb))
    if a.role == 'initiator':
        cred = None
        if a.user:
            name = gssapi.Name(a.user, gssapi.NameType.user)
            res = raw.acquire_cred_with_password(name, a.password.encode(), usage='initiate', mechs=[mech])
            cred = gssapi.Credentials(res.creds)
        if a.mech == 'spnego' and a.spnego_mechs:
            if cred is None:
                cred = gssapi.Credentials(usage='initiate')
            raw.set_neg_mechs(cred, [oid(m) for m in a.spnego_mechs.split(',')])
        target = gssapi.Name(a.target, gssapi.NameType.hostbased_service)
        ctx = gssapi.SecurityContext(name=target, creds=cred, mech=mech, usage='initiate',
                                     flags=flags, channel_bindings=cb)
    else:
        cred = None
        if a.spnego_mechs:
            cred = gssapi.Credentials(usage='accept')
            raw.set_neg_mechs(cred, [oid(m) for m in a.spnego_mechs.split(',')])
        ctx = gssapi.SecurityContext(creds=cred, usage='accept', channel_bindings=cb)

    out = sys.stdout
    for line in sys.stdin:
        f = line.split()
        if not f:
            continue
        try:
            if f[0] == 'QUIT':
                break
            elif f[0] == 'STEP':
                tok = ctx.step(unh(f[1]) if len(f) > 1 and f[1] != '-' else None)
                out.write('TOKEN %s %s\n' % (h(tok), 'COMPLETE' if ctx.complete else 'CONTINUE'))
            elif f[0] == 'WRAP':
                w = ctx.wrap(unh(f[1]), f[2] == '1')
                out.write('OK %s\n' % h(w.message))
            elif f[0] == 'UNWRAP':
                u = ctx.unwrap(unh(f[1]))
                out.write('OK %s %d\n' % (h(u.message), 1 if u.encrypted else 0))
            elif f[0] == 'MIC':
                out.write('OK %s\n' % h(ctx.get_signature(unh(f[1]))))
            elif f[0] == 'VERIFY':
                ctx.verify_signature(unh(f[1]), unh(f[2]))
                out.write('OK\n')
            elif f[0] == 'INFO':
                # Only what every mechanism answers: gss-ntlmssp's inquire of the
                # target name on an acceptor takes the process down.
                info = {'mech': str(ctx.mech) if ctx.complete else '',
                        'initiator': str(ctx.initiator_name) if ctx.complete else '',
                        'flags': int(ctx.actual_flags) if ctx.complete else 0}
                out.write('OK %s\n' % json.dumps(info))
            else:
                out.write('ERROR unknown request %s\n' % f[0])
        except Exception as e:  # report, keep serving: the test decides what is fatal
            out.write('ERROR %s\n' % str(e).replace('\n', ' '))
        out.flush()


if __name__ == '__main__':
    main()
