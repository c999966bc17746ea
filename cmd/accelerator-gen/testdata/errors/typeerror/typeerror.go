package typeerror

import "context"

type Store interface {
	//accelerator:cacheable cache=users key=id
	Get(ctx context.Context, id int64) (Missing, error)
}
