// Command dashboard runs two instances of a service that share one Redis, each with
// two caches and its own admin endpoint, under a load that changes every 20 seconds,
// so that the dashboard of package admin has something to show:
//
//	ACCELERATOR_REDIS_URL=redis://127.0.0.1:6379 go run ./examples/dashboard
//	open http://127.0.0.1:8081/debug/cache/   (instance 1)
//	open http://127.0.0.1:8082/debug/cache/   (instance 2)
//
// The phases: a small working set (L1 hits), a wide one (L2 hits and loads), writes
// (invalidations between the instances), a slow and failing database (loads in
// flight, errors). ACCELERATOR_DASHBOARD_PORT sets the first port (default 8081).
// If Redis is unreachable it says so and exits 0. Stop it with Ctrl-C.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/admin"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

// phase is what the load does for 20 seconds.
type phase struct {
	name    string
	keys    int     // size of the working set of users
	writes  float64 // share of operations that write
	slow    bool    // the database answers slowly and fails sometimes
	pauseUs int     // pause between operations of one worker
}

var phases = []phase{
	{name: "small working set", keys: 200, pauseUs: 200},
	{name: "wide working set", keys: 20_000, pauseUs: 400},
	{name: "writes", keys: 500, writes: 0.2, pauseUs: 500},
	{name: "slow, failing database", keys: 5_000, slow: true, pauseUs: 300},
}

// db stands for the source of truth.
type db struct {
	slow atomic.Bool
}

var errDB = errors.New("db: connection reset")

func (d *db) load(ctx context.Context, id int) (string, bool, error) {
	if d.slow.Load() {
		select {
		case <-time.After(time.Duration(20+rand.IntN(60)) * time.Millisecond):
		case <-ctx.Done():
			return "", false, ctx.Err()
		}
		if rand.IntN(10) == 0 {
			return "", false, errDB
		}
	}
	return "user " + strconv.Itoa(id), id%50 != 0, nil
}

// instance is one replica of the service.
type instance struct {
	users *accelerator.Cache[int, string]
	flags *accelerator.Cache[string, bool]
}

func newInstance(url string, d *db) (*instance, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	newRemote := func() (*rueidisremote.Remote, error) {
		r, err := rueidisremote.NewFromURL(url)
		if err == nil {
			closers = append(closers, r.Close)
		}
		return r, err
	}
	ur, err := newRemote()
	if err != nil {
		return nil, closeAll, err
	}
	users, err := accelerator.New(accelerator.Options[int, string]{
		Area: "users", KeyPrefix: "dashboard-demo:", Remote: ur, BroadcastInvalidation: true,
		LocalMaxEntries: 1000, LocalTTL: 30 * time.Second, RemoteTTL: 2 * time.Minute,
		CacheNullValue: true, LoaderTimeout: 50 * time.Millisecond,
		Loader: accelerator.LoaderFunc[int, string](d.load),
	})
	if err != nil {
		return nil, closeAll, err
	}
	closers = append(closers, func() { users.Close() })
	fr, err := newRemote()
	if err != nil {
		return nil, closeAll, err
	}
	flags, err := accelerator.New(accelerator.Options[string, bool]{
		Area: "flags", KeyPrefix: "dashboard-demo:", Remote: fr, BroadcastInvalidation: true,
	})
	if err != nil {
		return nil, closeAll, err
	}
	closers = append(closers, func() { flags.Close() })
	return &instance{users: users, flags: flags}, closeAll, nil
}

// work runs the load of the current phase on inst until ctx ends.
func work(ctx context.Context, inst *instance, current *atomic.Pointer[phase]) {
	for ctx.Err() == nil {
		p := current.Load()
		id := int(rand.ExpFloat64() * float64(p.keys) / 4)
		if rand.Float64() < p.writes {
			inst.users.Set(ctx, id, "user "+strconv.Itoa(id)+" renamed")
		} else {
			inst.users.Get(ctx, id)
		}
		inst.flags.Get(ctx, "flag-"+strconv.Itoa(rand.IntN(8)))
		time.Sleep(time.Duration(p.pauseUs) * time.Microsecond)
	}
}

func main() {
	url := os.Getenv("ACCELERATOR_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379"
	}
	port := 8081
	if p, err := strconv.Atoi(os.Getenv("ACCELERATOR_DASHBOARD_PORT")); err == nil {
		port = p
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	d := &db{}
	var current atomic.Pointer[phase]
	current.Store(&phases[0])
	var wg sync.WaitGroup
	var servers []*http.Server
	for i := range 2 {
		inst, closeInst, err := newInstance(url, d)
		if err != nil {
			// The error may name the address; never the URL, which may hold a password.
			fmt.Printf("Redis is unreachable (%v); start one or set ACCELERATOR_REDIS_URL. Nothing to do.\n", err)
			closeInst()
			return
		}
		defer closeInst()
		for f := range 6 { // flags 6 and 7 do not exist: negative lookups
			inst.flags.Set(ctx, "flag-"+strconv.Itoa(f), f%2 == 0)
		}
		mux := http.NewServeMux()
		mux.Handle("/debug/cache/", http.StripPrefix("/debug/cache", admin.NewHandler(inst.users, inst.flags)))
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port+i))
		srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		servers = append(servers, srv)
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Fatal(err)
			}
		}()
		fmt.Printf("instance %d: http://%s/debug/cache/\n", i+1, addr)
		for range 2 {
			wg.Go(func() { work(ctx, inst, &current) })
		}
	}

	tick := time.NewTicker(20 * time.Second)
	defer tick.Stop()
	for n := 0; ; n++ {
		p := &phases[n%len(phases)]
		current.Store(p)
		d.slow.Store(p.slow)
		fmt.Printf("phase: %s\n", p.name)
		select {
		case <-tick.C:
			continue
		case <-ctx.Done():
		}
		break
	}
	for _, srv := range servers {
		srv.Close()
	}
	wg.Wait()
}
