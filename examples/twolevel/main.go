// Command twolevel runs a two-level cache: an in-process L1 in front of Redis (L2), with
// a loader behind both. Two cache instances share one Redis, as two replicas of a
// service would: what one loads, the other reads from L2 without loading again.
//
//	ACCELERATOR_REDIS_URL=redis://127.0.0.1:6379 go run ./examples/twolevel
//
// If Redis is unreachable it says so and exits 0. If Redis refuses the credentials
// of the URL, or the URL is malformed, it says so and exits 1. It never prints the
// URL's user or password.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

type Product struct {
	SKU   string
	Price int64
}

func main() {
	redisURL := os.Getenv("ACCELERATOR_REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379"
	}
	if err := run(os.Stdout, redisURL); err != nil {
		fmt.Fprintln(os.Stderr, "twolevel:", err)
		os.Exit(1)
	}
}

// run runs the demo against the Redis at redisURL, writing what happens to out. It
// returns nil when Redis is unreachable (there is nothing to show), and an error
// when Redis refuses the credentials or anything else fails.
func run(out io.Writer, redisURL string) error {
	remote, err := rueidisremote.NewFromURL(redisURL)
	switch {
	case err == nil:
		defer remote.Close()
	case authFailure(err):
		return fmt.Errorf("Redis at %s refused the credentials of ACCELERATOR_REDIS_URL (authentication failed): %w", withoutUserinfo(redisURL), err)
	case unreachable(err):
		fmt.Fprintf(out, "Redis at %s is unreachable (%v); start one or set ACCELERATOR_REDIS_URL. Nothing to do.\n", withoutUserinfo(redisURL), err)
		return nil
	default:
		return fmt.Errorf("cannot use Redis at %s: %w", withoutUserinfo(redisURL), err)
	}

	var queries atomic.Int64
	opts := accelerator.Options[string, Product]{
		Area:      "products",
		KeyPrefix: "example:",
		Remote:    remote, // Mode defaults to ModeBoth with a Remote
		LocalTTL:  30 * time.Second,
		RemoteTTL: 5 * time.Minute,
		Loader: accelerator.LoaderFunc[string, Product](func(ctx context.Context, sku string) (Product, bool, error) {
			queries.Add(1)
			return Product{SKU: sku, Price: int64(len(sku)) * 100}, true, nil
		}),
	}
	replicaA, err := accelerator.New(opts)
	if err != nil {
		return err
	}
	defer replicaA.Close()
	replicaB, err := accelerator.New(opts)
	if err != nil {
		return err
	}
	defer replicaB.Close()

	ctx := context.Background()
	if err := replicaA.Del(ctx, "sku-42"); err != nil { // start from a cold cache
		return err
	}
	p, _, err := replicaA.Get(ctx, "sku-42")
	fmt.Fprintf(out, "replica A: %+v err=%v (loaded, written to Redis and L1)\n", p, err)
	p, _, err = replicaB.Get(ctx, "sku-42")
	fmt.Fprintf(out, "replica B: %+v err=%v (read from Redis, filled its L1)\n", p, err)
	p, _, _ = replicaB.Get(ctx, "sku-42")
	fmt.Fprintf(out, "replica B: %+v (served from its L1)\n", p)

	a, b := replicaA.MetricsSnapshot(), replicaB.MetricsSnapshot()
	fmt.Fprintf(out, "\nsource queries=%d\nA: L1 hits=%d misses=%d, L2 hits=%d misses=%d, loads=%d\nB: L1 hits=%d misses=%d, L2 hits=%d misses=%d, loads=%d\n",
		queries.Load(),
		a.LocalHits, a.LocalMisses, a.RemoteHits, a.RemoteMisses, a.Loads,
		b.LocalHits, b.LocalMisses, b.RemoteHits, b.RemoteMisses, b.Loads)
	return nil
}

// authFailure reports whether Redis refused the credentials: a wrong password
// (WRONGPASS), none where one is required (NOAUTH), or a user not allowed to run the
// commands the connection needs (NOPERM).
func authFailure(err error) bool {
	var re *rueidis.RedisError
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	return strings.HasPrefix(msg, "WRONGPASS") || strings.HasPrefix(msg, "NOAUTH") || strings.HasPrefix(msg, "NOPERM")
}

// unreachable reports whether nothing answered: a refused connection or a dial
// timeout.
func unreachable(err error) bool {
	var op interface{ Timeout() bool }
	return strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "no such host") ||
		(errors.As(err, &op) && op.Timeout())
}

// withoutUserinfo returns u without its user and password, for messages.
func withoutUserinfo(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "(a malformed URL)"
	}
	parsed.User = nil
	return parsed.String()
}
