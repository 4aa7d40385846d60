package rfc4121

import "github.com/jcmturner/gokrb5/v8/types"

// newAESEngine returns nil for now: every enctype goes through gokrb5.
func newAESEngine(types.EncryptionKey) engine { return nil }
