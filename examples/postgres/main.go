// Command postgres puts an accelerator cache in front of a real PostgreSQL table and
// prints what each read cost: a load (a query to the database) or a hit (L1 or
// Redis).
//
//	cd examples/postgres && go run .
//
// It connects to $ACCELERATOR_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable), creates the users table if
// it is missing and seeds it (deploy/postgres), and caches in Redis at
// $ACCELERATOR_REDIS_URL (default redis://127.0.0.1:6379) with ModeBoth, or in process
// only (ModeLocal) when Redis is unreachable. scripts/stack-native.sh start, or
// docker compose -f deploy/docker-compose.yml up -d, gives both.
package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/examples/postgres/users"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// EnvRedisURL names the environment variable with the Redis URL, and DefaultRedisURL
// is its default.
const (
	EnvRedisURL     = "ACCELERATOR_REDIS_URL"
	DefaultRedisURL = "redis://127.0.0.1:6379"
)

func main() {
	redisURL := os.Getenv(EnvRedisURL)
	if redisURL == "" {
		redisURL = DefaultRedisURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, users.PostgresURL(), redisURL); err != nil {
		fmt.Fprintln(os.Stderr, "examples/postgres:", err)
		os.Exit(1)
	}
}

// The ids the demo reads: a user, a batch, and one that does not exist.
const (
	demoID    = 1
	missingID = 424242
)

var batchIDs = []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}

// run runs the demo against the database at pgURL and the Redis at redisURL, writing
// what happens to out.
func run(ctx context.Context, out io.Writer, pgURL, redisURL string) error {
	db, queries, err := users.Open(ctx, pgURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL at %s is unreachable (%w); start it with scripts/stack-native.sh start, or set %s", redacted(pgURL), err, users.EnvPostgresURL)
	}
	defer db.Close()
	if err := users.EnsureSchema(ctx, db); err != nil {
		return err
	}
	var rows int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&rows); err != nil {
		return err
	}
	fmt.Fprintf(out, "postgres: %s (table users, %d rows)\n", redacted(pgURL), rows)

	cfg := users.Config{KeyPrefix: "example:pg:", LocalTTL: 30 * time.Second, RemoteTTL: 5 * time.Minute}
	remote, err := rueidisremote.NewFromURL(redisURL)
	if err != nil {
		cfg.Mode = accelerator.ModeLocal
		fmt.Fprintf(out, "cache:    ModeLocal, in process only: Redis at %s is unreachable (%v)\n\n", redacted(redisURL), err)
	} else {
		defer remote.Close()
		cfg.Mode, cfg.Remote = accelerator.ModeBoth, remote
		fmt.Fprintf(out, "cache:    ModeBoth, in process (L1) and Redis at %s (L2), keys under %q\n\n", redacted(redisURL), cfg.KeyPrefix)
	}
	svc, err := users.NewService(db, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	d := demo{ctx: ctx, out: out, svc: svc, queries: queries}
	if cfg.Remote != nil {
		// A second instance of the service over the same Redis, as a second replica
		// of a deployment would be: what one loaded, the other reads from Redis.
		if d.replica, err = users.NewService(db, cfg); err != nil {
			return err
		}
		defer d.replica.Close()
		for _, s := range []*users.Service{svc, d.replica} {
			if err := s.WaitSubscribed(ctx); err != nil {
				return err
			}
		}
	}
	return d.run()
}

// redacted returns u without its user and password, if any.
func redacted(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "(a URL that does not parse)"
	}
	parsed.User = nil
	return parsed.String()
}

// demo prints each read with what it cost.
type demo struct {
	ctx     context.Context
	out     io.Writer
	svc     *users.Service
	replica *users.Service // nil without Redis
	queries *users.QueryLog
}

func (d *demo) run() error {
	if err := d.evict(); err != nil {
		return err
	}
	a := d.svc
	steps := []func() error{
		func() error { return d.get("", a, demoID) },
		func() error { return d.get("", a, demoID) },
		func() error { return d.getMany(a, batchIDs) },
		func() error { return d.getMany(a, batchIDs) },
		func() error { return d.get("", a, missingID) },
		func() error { return d.get("", a, missingID) },
	}
	if d.replica != nil {
		steps = append(steps,
			func() error { return d.get("replica ", d.replica, 5) },
			func() error { return d.get("replica ", d.replica, 5) },
			func() error { return d.get("replica ", d.replica, demoID) },
		)
	}
	steps = append(steps,
		d.rename,
		func() error { return d.get("", a, demoID) },
		func() error { return d.get("", a, demoID) },
	)
	if d.replica != nil {
		steps = append(steps, func() error { return d.get("replica ", d.replica, demoID) })
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	fmt.Fprintln(d.out)
	d.printMetrics("metrics", a)
	if d.replica != nil {
		d.printMetrics("replica", d.replica)
	}
	n, _ := d.queries.LoadsSince(0)
	fmt.Fprintf(d.out, "database: %d loader queries in all\n", n)
	return nil
}

func (d *demo) printMetrics(label string, svc *users.Service) {
	m := svc.Metrics()
	fmt.Fprintf(d.out, "%s: L1 hits=%d misses=%d, Redis hits=%d misses=%d, null hits=%d, loads=%d, batch loads=%d, keys loaded=%d\n",
		label, m.LocalHits, m.LocalMisses, m.RemoteHits, m.RemoteMisses, m.NullHits, m.Loads, m.MLoads, m.LoadedKeys)
}

// evict removes the demo's keys from every cache layer, so that the demo starts cold
// even when an earlier run left them in Redis.
func (d *demo) evict() error {
	return d.svc.Evict(d.ctx, append(slices.Clone(batchIDs), missingID))
}

// cost describes what a read of svc cost, from the queries since mark and the metrics
// before it: a load with its queries, or a hit and its layer.
func (d *demo) cost(svc *users.Service, mark int, before accelerator.MetricsSnapshot) string {
	n, perID := d.queries.LoadsSince(mark)
	after := svc.Metrics()
	switch {
	case n == 1:
		return fmt.Sprintf("load: 1 query for %d key(s)", len(perID))
	case n > 1:
		return fmt.Sprintf("load: %d queries for %d key(s)", n, len(perID))
	case after.NullHits > before.NullHits:
		return "hit: remembered as not found, 0 queries"
	case after.LocalHits > before.LocalHits:
		return "hit: L1, 0 queries"
	case after.RemoteHits > before.RemoteHits:
		return "hit: Redis, 0 queries"
	}
	return "0 queries"
}

// line prints one call, its result and its cost.
func (d *demo) line(call, result, cost string) {
	fmt.Fprintf(d.out, "%-20s -> %-46s %s\n", call, result, cost)
}

func (d *demo) get(who string, svc *users.Service, id int64) error {
	mark, before := d.queries.Len(), svc.Metrics()
	u, found, err := svc.Get(d.ctx, id)
	if err != nil {
		return err
	}
	what := "not found"
	if found {
		what = fmt.Sprintf("%q", u.Name)
	}
	d.line(fmt.Sprintf("%sGet(%d)", who, id), what, d.cost(svc, mark, before))
	return nil
}

func (d *demo) getMany(svc *users.Service, ids []int64) error {
	mark, before := d.queries.Len(), svc.Metrics()
	got, err := svc.GetMany(d.ctx, ids)
	if err != nil {
		return err
	}
	keys := slices.Sorted(maps.Keys(got))
	what := fmt.Sprintf("%d users, %d..%d", len(got), keys[0], keys[len(keys)-1])
	d.line(fmt.Sprintf("GetMany(%d..%d)", ids[0], ids[len(ids)-1]), what, d.cost(svc, mark, before))
	return nil
}

func (d *demo) rename() error {
	u, _, err := d.svc.Get(d.ctx, demoID)
	if err != nil {
		return err
	}
	u.Name = "user 1, renamed at " + time.Now().Format(time.TimeOnly)
	var received uint64
	if d.replica != nil {
		received = d.replica.Metrics().InvalidationsReceived
	}
	if err := d.svc.Update(d.ctx, u); err != nil {
		return err
	}
	d.line(fmt.Sprintf("Update(%d)", demoID), "committed, then invalidated", "the next read loads the new row")
	if d.replica == nil {
		return nil
	}
	// The replica drops its L1 copy when the invalidation message arrives, a few
	// milliseconds later.
	deadline := time.Now().Add(2 * time.Second)
	for d.replica.Metrics().InvalidationsReceived == received && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return nil
}
