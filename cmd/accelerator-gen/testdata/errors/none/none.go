// Package none has no annotations.
package none

type Store interface {
	Get(id int64) (string, error)
}
