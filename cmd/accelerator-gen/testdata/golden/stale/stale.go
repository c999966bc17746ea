// Package stale holds an accelerator_gen.go that no longer compiles: the generator
// must ignore it.
package stale

import "context"

type Repo interface {
	//accelerator:cacheable cache=things key=id
	Thing(ctx context.Context, id string) (string, error)
}
