module github.com/accelerator-go/accelerator/cmd/accelerator-gen

go 1.26.0

replace github.com/accelerator-go/accelerator => ../..

require (
	github.com/accelerator-go/accelerator v0.0.0-00010101000000-000000000000
	golang.org/x/tools v0.52.0
)

require (
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	golang.org/x/mod v0.42.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
)
