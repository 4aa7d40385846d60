module github.com/gossp/gossp

go 1.26.0

require (
	github.com/jcmturner/gokrb5/v8 v8.4.4
	go.uber.org/goleak v1.3.0
	golang.org/x/crypto v0.59.0
)

require (
	github.com/jcmturner/aescts/v2 v2.0.0 // indirect
	github.com/jcmturner/gofork v1.7.6 // indirect
)
