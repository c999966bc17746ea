package accelerator

import (
	"reflect"
)

// DefaultMaxBatchKeys is the default of [Options.MaxBatchKeys].
const DefaultMaxBatchKeys = 1000

// checkValues reports, through bad, every field of Options that holds a value the
// cache would panic on later: a nil function behind an interface (LoaderFunc(nil)),
// a nil pointer of a backend type ((*rueidisremote.Remote)(nil)), a Logger without a
// handler; and a negative MaxBatchKeys.
func (c *config[K, V]) checkValues(bad func(string, ...any)) {
	for _, f := range []struct {
		name string
		v    any
	}{
		{"Loader", c.Loader}, {"MLoader", c.MLoader},
		{"Local", c.Local}, {"Remote", c.Remote}, {"PubSub", c.PubSub},
		{"Codec", c.Codec}, {"KeyEncoder", c.KeyEncoder}, {"Tracer", c.Tracer},
	} {
		if t, ok := typedNil(f.v); ok {
			bad("Options.%s is a nil %s; leave the field unset instead", f.name, t)
		}
	}
	if c.Logger != nil && c.Logger.Handler() == nil {
		bad("Options.Logger has no handler; build it with slog.New")
	}
	if c.MaxBatchKeys < 0 {
		bad("MaxBatchKeys is negative (%d)", c.MaxBatchKeys)
	}
}

// typedNil reports whether v is a non-nil interface value that holds a nil
// function, pointer, map, slice or channel, and names its type.
func typedNil(v any) (string, bool) {
	if v == nil {
		return "", false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Func, reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan, reflect.Interface:
		if rv.IsNil() {
			return rv.Type().String(), true
		}
	}
	return "", false
}
