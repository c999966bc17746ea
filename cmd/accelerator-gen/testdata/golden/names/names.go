// Package names declares names that the generated imports must avoid, and two
// interfaces, one of which is chosen with -type.
package names

import "context"

const accelerator = "taken"

func cachefn() {}

type Item struct{ SKU string }

type Catalog interface {
	//accelerator:cacheable cache=items key=sku
	Item(ctx context.Context, sku string) (*Item, error)
}

type Other interface {
	//accelerator:cacheable cache=items key=sku
	Item(ctx context.Context, sku string) (Item, error)
}
