module github.com/gossp/gossp

go 1.26.0

require (
	go.uber.org/goleak v1.3.0 // indirect
	golang.org/x/crypto v0.59.0 // indirect
)
