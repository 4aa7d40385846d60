package sspi_test

import (
	"testing"

	"github.com/gossp/gossp/sspi"
)

// leafCtx stands for a mechanism's context (what Kerberos or NTLM would return). It
// embeds the interface only to satisfy it; ContextAs never calls its methods.
type leafCtx struct {
	sspi.SecurityContext
	name string
}

// wrapCtx stands for a context that wraps another, as Negotiate's does.
type wrapCtx struct {
	sspi.SecurityContext
	inner sspi.SecurityContext
}

func (w *wrapCtx) Unwrap() sspi.SecurityContext { return w.inner }

// namer is an extension interface a package might offer on its context.
type namer interface{ MechName() string }

func (l *leafCtx) MechName() string { return l.name }

func TestContextAs(t *testing.T) {
	leaf := &leafCtx{name: "Kerberos"}
	mid := &wrapCtx{inner: leaf}
	top := &wrapCtx{inner: mid} // Negotiate -> NegoEx -> scheme

	if got, ok := sspi.ContextAs[*leafCtx](top); !ok || got != leaf {
		t.Errorf("ContextAs[*leafCtx](top) = %v, %v", got, ok)
	}
	// The first match wins: the outermost wrapper is itself a *wrapCtx.
	if got, ok := sspi.ContextAs[*wrapCtx](top); !ok || got != top {
		t.Errorf("ContextAs[*wrapCtx](top) = %p, %v; want top %p", got, ok, top)
	}
	if got, ok := sspi.ContextAs[*wrapCtx](mid); !ok || got != mid {
		t.Errorf("ContextAs[*wrapCtx](mid) = %p, %v", got, ok)
	}
	// Interface targets work as with errors.As.
	if got, ok := sspi.ContextAs[namer](top); !ok || got.MechName() != "Kerberos" {
		t.Errorf("ContextAs[namer](top) = %v, %v", got, ok)
	}
	if got, ok := sspi.ContextAs[sspi.Unwrapper](leaf); ok {
		t.Errorf("ContextAs[Unwrapper](leaf) = %v, want not found", got)
	}
	// Not in the chain.
	type other struct{ sspi.SecurityContext }
	if got, ok := sspi.ContextAs[*other](top); ok || got != nil {
		t.Errorf("ContextAs[*other](top) = %v, %v; want nil, false", got, ok)
	}
	// A nil context, and a wrapper whose inner context is not set yet (a Negotiate
	// context before it has chosen a mechanism), end the walk.
	if _, ok := sspi.ContextAs[*leafCtx](nil); ok {
		t.Error("ContextAs on nil found something")
	}
	if _, ok := sspi.ContextAs[*leafCtx](&wrapCtx{}); ok {
		t.Error("ContextAs through an empty wrapper found something")
	}
}
