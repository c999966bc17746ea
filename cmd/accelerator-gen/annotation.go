package main

import (
	"fmt"
	"go/token"
	"slices"
	"strings"
)

// prefix starts every annotation: a directive comment, hidden from go doc.
const prefix = "//accelerator:"

// Verbs of the annotations.
const (
	verbCacheable      = "cacheable"
	verbCacheableBatch = "cacheable-batch"
	verbPut            = "put"
	verbEvict          = "evict"
	verbEvictBatch     = "evict-batch"
)

// optionsOf lists the options each verb accepts; cache and key are required.
var optionsOf = map[string][]string{
	verbCacheable:      {"cache", "key", "notfound", "policy"},
	verbCacheableBatch: {"cache", "key", "policy"},
	verbPut:            {"cache", "key", "policy"},
	verbEvict:          {"cache", "key", "before", "policy"},
	verbEvictBatch:     {"cache", "key", "before", "policy"},
}

var verbs = []string{verbCacheable, verbCacheableBatch, verbPut, verbEvict, verbEvictBatch}

// annotation is one parsed //accelerator: comment.
type annotation struct {
	pos  token.Pos
	verb string
	// cache is the cache= name, key the key= path split at dots.
	cache string
	key   []string
	// notFound is the notfound= error variable, "" for cachefn.ErrNotFound.
	notFound string
	// policy is "ignore", "propagate" or "" (the constructor's options decide).
	policy string
	before bool
}

// parseAnnotation parses the text of one comment that starts with prefix.
func parseAnnotation(pos token.Pos, text string) (*annotation, error) {
	fields := strings.Fields(strings.TrimPrefix(text, prefix))
	if len(fields) == 0 {
		return nil, fmt.Errorf("annotation without a verb; want one of %s", strings.Join(verbs, ", "))
	}
	a := &annotation{pos: pos, verb: fields[0]}
	allowed, ok := optionsOf[a.verb]
	if !ok {
		return nil, fmt.Errorf("unknown annotation %q; want one of %s", prefix+a.verb, strings.Join(verbs, ", "))
	}
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		name, value, ok := strings.Cut(f, "=")
		switch {
		case !ok || name == "" || value == "":
			return nil, fmt.Errorf("%s: malformed option %q; want name=value", a.verb, f)
		case !slices.Contains(allowed, name):
			return nil, fmt.Errorf("%s: unknown option %q; want %s", a.verb, name, strings.Join(allowed, ", "))
		case seen[name]:
			return nil, fmt.Errorf("%s: option %s given twice", a.verb, name)
		}
		seen[name] = true
		if err := a.set(name, value); err != nil {
			return nil, fmt.Errorf("%s: %w", a.verb, err)
		}
	}
	for _, req := range []string{"cache", "key"} {
		if !seen[req] {
			return nil, fmt.Errorf("%s: missing %s=", a.verb, req)
		}
	}
	return a, nil
}

func (a *annotation) set(name, value string) error {
	switch name {
	case "cache":
		if !token.IsIdentifier(value) {
			return fmt.Errorf("cache=%s: not a Go identifier", value)
		}
		a.cache = value
	case "key":
		a.key = strings.Split(value, ".")
		for _, p := range a.key {
			if !token.IsIdentifier(p) {
				return fmt.Errorf("key=%s: want a parameter name, optionally followed by .Field selectors", value)
			}
		}
	case "notfound":
		parts := strings.Split(value, ".")
		if len(parts) > 2 || !token.IsIdentifier(parts[0]) || !token.IsIdentifier(parts[len(parts)-1]) {
			return fmt.Errorf("notfound=%s: want an error variable, Name or pkg.Name", value)
		}
		a.notFound = value
	case "policy":
		if value != "ignore" && value != "propagate" {
			return fmt.Errorf("policy=%s: want ignore or propagate", value)
		}
		a.policy = value
	case "before":
		if value != "true" && value != "false" {
			return fmt.Errorf("before=%s: want true or false", value)
		}
		a.before = value == "true"
	}
	return nil
}
