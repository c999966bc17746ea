// Command accelerator-gen writes cache decorators for Go interfaces from annotations in
// the doc comments of their methods:
//
//	type UserStore interface {
//		//accelerator:cacheable cache=users key=id
//		GetUser(ctx context.Context, id int64) (User, error)
//		//accelerator:put cache=users key=u.ID
//		SaveUser(ctx context.Context, u User) (User, error)
//		//accelerator:evict cache=users key=id
//		DeleteUser(ctx context.Context, id int64) error
//	}
//
// For each annotated interface X of the package it writes a type CachedX that
// implements X by calling an inner X through the wrappers of package
// github.com/accelerator-go/accelerator/cachefn, a struct XCaches with one
// *accelerator.Cache field per cache= name, and a constructor NewCachedX. The output
// needs package cachefn, not this tool.
//
// Usage, from a go:generate line in the package:
//
//	//go:generate go run github.com/accelerator-go/accelerator/cmd/accelerator-gen [-type X,Y] [-output file] [dir]
//
// -type names the interfaces to decorate (default: every interface with an
// annotation); -output the file to write (default accelerator_gen.go in the package
// directory); dir the package (default "."). The grammar of the annotations is in
// docs/declarative.md. Errors name the file, line and column of the annotation at
// fault, and the tool exits with status 1 without writing anything.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is the command with its arguments; it returns the exit status.
func run(args []string, stderr io.Writer) int {
	flags := flag.NewFlagSet("accelerator-gen", flag.ContinueOnError)
	flags.SetOutput(stderr)
	typeNames := flags.String("type", "", "comma-separated interfaces to decorate; default every interface with an annotation")
	output := flags.String("output", "", "file to write; default "+defaultOutput+" in the package directory")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: accelerator-gen [-type X,Y] [-output file] [dir]\n")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	dir := "."
	switch flags.NArg() {
	case 0:
	case 1:
		dir = flags.Arg(0)
	default:
		flags.Usage()
		return 2
	}
	var types []string
	if *typeNames != "" {
		types = strings.Split(*typeNames, ",")
	}
	out := *output
	switch {
	case out == "":
		out = filepath.Join(dir, defaultOutput)
	case !filepath.IsAbs(out):
		out = filepath.Join(dir, out)
	}
	src, err := generate(dir, types, out)
	if err == nil {
		err = os.WriteFile(out, src, 0o644)
	}
	if err != nil {
		report(stderr, err)
		return 1
	}
	return 0
}

// report prints every error of err on its own line, file:line:column first.
func report(w io.Writer, err error) {
	var list interface{ Unwrap() []error }
	if errors.As(err, &list) {
		for _, e := range list.Unwrap() {
			fmt.Fprintf(w, "%s\n", relative(e.Error()))
		}
		return
	}
	fmt.Fprintf(w, "accelerator-gen: %s\n", relative(err.Error()))
}

// relative shortens an absolute path at the start of msg to one relative to the
// working directory, as the go command does.
func relative(msg string) string {
	wd, err := os.Getwd()
	if err != nil || !filepath.IsAbs(msg) {
		return msg
	}
	if rel, ok := strings.CutPrefix(msg, wd+string(filepath.Separator)); ok {
		return rel
	}
	return msg
}
