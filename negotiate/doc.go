// Package negotiate implements the Negotiate security package: SPNEGO (RFC 4178) as
// Windows' Negotiate SSP speaks it (MS-SPNG). It chooses one mechanism per context among
// its sub-packages (Kerberos, NegoEx, NTLM), runs that mechanism's handshake inside
// SPNEGO tokens, and protects the mechanism list against downgrade with the mechListMIC.
package negotiate
