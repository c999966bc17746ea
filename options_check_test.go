package accelerator_test

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/codec"
	"github.com/accelerator-go/accelerator/local"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// nilTracer is a Tracer whose methods would panic on a nil receiver.
type nilTracer struct{ spans int }

func (t *nilTracer) Start(ctx context.Context, _ accelerator.SpanStart) (context.Context, accelerator.Span) {
	t.spans++
	return ctx, nil
}

// TestNewRejectsMisuse: every value that the cache would panic on later is an
// error of New, which names it, and New itself never panics.
func TestNewRejectsMisuse(t *testing.T) {
	type opts = accelerator.Options[string, string]
	nilRemote := (*rueidisremote.Remote)(nil)
	tests := []struct {
		name string
		opts opts
		want []string
	}{
		{"nil LoaderFunc", opts{Loader: accelerator.LoaderFunc[string, string](nil)},
			[]string{"Options.Loader is a nil accelerator.LoaderFunc"}},
		{"nil MLoaderFunc", opts{MLoader: accelerator.MLoaderFunc[string, string](nil)},
			[]string{"Options.MLoader is a nil accelerator.MLoaderFunc"}},
		{"typed-nil Remote", opts{Remote: nilRemote},
			[]string{"Options.Remote is a nil *rueidisremote.Remote"}},
		{"typed-nil Remote, ModeRemote", opts{Mode: accelerator.ModeRemote, Remote: nilRemote},
			[]string{"Options.Remote is a nil *rueidisremote.Remote"}},
		{"typed-nil Local", opts{Local: (*local.Store[string, string])(nil)},
			[]string{"Options.Local is a nil *local.Store"}},
		{"typed-nil Codec", opts{Codec: (*codec.Msgpack[string])(nil)},
			[]string{"Options.Codec is a nil *codec.Msgpack"}},
		{"nil KeyEncoderFunc", opts{KeyEncoder: accelerator.KeyEncoderFunc[string](nil)},
			[]string{"Options.KeyEncoder is a nil accelerator.KeyEncoderFunc"}},
		{"typed-nil Tracer", opts{Tracer: (*nilTracer)(nil)},
			[]string{"Options.Tracer is a nil *accelerator_test.nilTracer"}},
		{"typed-nil PubSub", opts{Remote: nilRemote, BroadcastInvalidation: true, PubSub: backend.PubSub(nilRemote)},
			[]string{"Options.PubSub is a nil *rueidisremote.Remote", "Options.Remote is a nil"}},
		{"Logger without a handler", opts{Logger: &slog.Logger{}},
			[]string{"Options.Logger has no handler"}},
		{"negative MaxBatchKeys", opts{MaxBatchKeys: -1},
			[]string{"MaxBatchKeys is negative (-1)"}},
		{"all at once", opts{
			Loader:  accelerator.LoaderFunc[string, string](nil),
			MLoader: accelerator.MLoaderFunc[string, string](nil),
			Remote:  nilRemote,
			Tracer:  (*nilTracer)(nil),
		}, []string{"Options.Loader", "Options.MLoader", "Options.Remote", "Options.Tracer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newNoPanic(t, tt.opts)
			if err == nil {
				t.Fatal("New accepted the options")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New error %q does not say %q", err, w)
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "accelerator: ") {
					t.Errorf("New error line %q lacks the accelerator: prefix", line)
				}
			}
		})
	}
}

// TestNewAcceptsSetFunctions: the checks of TestNewRejectsMisuse do not reject the
// same fields when they hold something.
func TestNewAcceptsSetFunctions(t *testing.T) {
	c, err := accelerator.New(accelerator.Options[string, string]{
		Loader: accelerator.LoaderFunc[string, string](func(context.Context, string) (string, bool, error) {
			return "v", true, nil
		}),
		MLoader: accelerator.MLoaderFunc[string, string](func(context.Context, []string) (map[string]string, error) {
			return nil, nil
		}),
		KeyEncoder:   accelerator.KeyEncoderFunc[string](func(dst []byte, k string) []byte { return append(dst, k...) }),
		Codec:        &codec.Msgpack[string]{},
		Tracer:       &nilTracer{},
		Logger:       slog.Default(),
		MaxBatchKeys: 10,
	})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	c.Close()
}

// newNoPanic calls New and turns a panic into a test failure.
func newNoPanic(t *testing.T, o accelerator.Options[string, string]) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("New panicked: %v", p)
		}
	}()
	c, err := accelerator.New(o)
	if err == nil {
		c.Close()
	}
	return err
}

// FuzzNewValidation: New never panics on any combination of the fields it checks,
// and every error it returns is prefixed.
func FuzzNewValidation(f *testing.F) {
	f.Add(uint16(0), int(0), int(0))
	f.Add(uint16(0xffff), int(-1), int(-1))
	f.Add(uint16(0x0155), int(3), int(1<<20))
	f.Fuzz(func(t *testing.T, mask uint16, batch, maxValue int) {
		var o accelerator.Options[string, string]
		set := func(bit int, f func()) {
			if mask&(1<<bit) != 0 {
				f()
			}
		}
		set(0, func() { o.Loader = accelerator.LoaderFunc[string, string](nil) })
		set(1, func() { o.MLoader = accelerator.MLoaderFunc[string, string](nil) })
		set(2, func() { o.Remote = (*rueidisremote.Remote)(nil) })
		set(3, func() { o.Local = (*local.Store[string, string])(nil) })
		set(4, func() { o.Codec = (*codec.Msgpack[string])(nil) })
		set(5, func() { o.KeyEncoder = accelerator.KeyEncoderFunc[string](nil) })
		set(6, func() { o.Tracer = (*nilTracer)(nil) })
		set(7, func() { o.Logger = &slog.Logger{} })
		set(8, func() { o.BroadcastInvalidation = true })
		set(9, func() { o.PubSub = (*rueidisremote.Remote)(nil) })
		set(10, func() { o.Mode = accelerator.ModeRemote })
		o.MaxBatchKeys, o.MaxValueSize = batch, maxValue
		err := newNoPanic(t, o)
		if err == nil {
			if mask&0x2ff != 0 || batch < 0 || maxValue < 0 {
				t.Fatalf("New accepted options with mask %#x, MaxBatchKeys %d", mask, batch)
			}
			return
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "accelerator: ") {
				t.Fatalf("New error line %q lacks the accelerator: prefix", line)
			}
		}
	})
}

// errorKinds is the kind of each exported error of the package, and of the error
// types wrapping them; TestErrorKindOfEveryExportedError checks that it lists them
// all.
var errorKinds = map[string]struct {
	err  error
	want string
}{
	"ErrClosed":          {accelerator.ErrClosed, accelerator.ErrorKindClosed},
	"ErrLoaderTimeout":   {fmt.Errorf("%w (after 1s)", accelerator.ErrLoaderTimeout), accelerator.ErrorKindTimeout},
	"ErrNoLoader":        {accelerator.ErrNoLoader, accelerator.ErrorKindUsage},
	"ErrCircuitOpen":     {accelerator.ErrCircuitOpen, accelerator.ErrorKindCircuitOpen},
	"ErrRemoteTimeout":   {fmt.Errorf("%w: x", accelerator.ErrRemoteTimeout), accelerator.ErrorKindTimeout},
	"ErrNilLoader":       {accelerator.ErrNilLoader, accelerator.ErrorKindUsage},
	"ErrValueTooLarge":   {fmt.Errorf("%w: 1 of 1 values", accelerator.ErrValueTooLarge), accelerator.ErrorKindTooLarge},
	"ErrTagsUnsupported": {accelerator.ErrTagsUnsupported, accelerator.ErrorKindUsage},
	// A publish that failed on a connection error, as the cache returns it.
	"ErrNotBroadcast": {fmt.Errorf("%w: %w", accelerator.ErrNotBroadcast, errors.New("dial tcp: connection refused")), accelerator.ErrorKindBroadcast},
	"PanicError":      {&accelerator.PanicError{Value: "boom"}, accelerator.ErrorKindPanic},
	"KeyError":        {&accelerator.KeyError[string]{Key: "k", Err: accelerator.ErrLoaderTimeout}, accelerator.ErrorKindTimeout},
	"BatchError": {&accelerator.BatchError[string]{Keys: []string{"k"}, Err: errors.Join(
		&accelerator.KeyError[string]{Key: "k", Err: errors.New("db down")})}, accelerator.ErrorKindLoader},
}

// TestErrorKindOfEveryExportedError: each exported error of package accelerator, and
// each exported error type, has a kind of its own, and the list here is complete (it
// is checked against the package's source).
func TestErrorKindOfEveryExportedError(t *testing.T) {
	for name, tt := range errorKinds {
		if got := accelerator.ErrorKind(tt.err); got != tt.want {
			t.Errorf("ErrorKind(%s) = %q, want %q", name, got, tt.want)
		}
	}
	if got := accelerator.ErrorKind(nil); got != "" {
		t.Errorf("ErrorKind(nil) = %q", got)
	}
	if got := accelerator.ErrorKind(context.Canceled); got != accelerator.ErrorKindCanceled {
		t.Errorf("ErrorKind(context.Canceled) = %q", got)
	}
	if got := accelerator.ErrorKind(errors.New("a loader's own error")); got != accelerator.ErrorKindLoader {
		t.Errorf("ErrorKind(a loader error) = %q", got)
	}
	for _, name := range exportedErrors(t) {
		if _, ok := errorKinds[name]; !ok {
			t.Errorf("exported error %s has no row in errorKinds: give it a kind in ErrorKind and a row here", name)
		}
	}
}

// exportedErrors lists the exported error variables (Err...) and error types (...Error)
// declared in the package's non-test files.
func exportedErrors(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, e.Name(), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				switch s := spec.(type) {
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if gd.Tok == token.VAR && n.IsExported() && strings.HasPrefix(n.Name, "Err") {
							names = append(names, n.Name)
						}
					}
				case *ast.TypeSpec:
					if s.Name.IsExported() && strings.HasSuffix(s.Name.Name, "Error") {
						names = append(names, s.Name.Name)
					}
				}
			}
		}
	}
	return names
}
