package benchmarks

import (
	"context"
	"errors"
	"hash/fnv"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/accelerator-go/accelerator/internal/redistest"
)

// Environment variables read by the suite; scripts/bench.sh sets them.
const (
	// envRedisAddr names a Redis (host:port) that the suite may flush at will. Without
	// it, every benchmark that needs Redis starts its own redis-server.
	envRedisAddr = "ACCELERATOR_BENCH_REDIS_ADDR"
	// envLocalOnly, set to "1", skips every benchmark that needs Redis.
	envLocalOnly = "ACCELERATOR_BENCH_LOCAL_ONLY"
)

// The shape every library is configured with, whatever its own defaults.
const (
	localTTL  = time.Minute
	remoteTTL = 10 * time.Minute
	// capacity bounds every L1, in entries, outside the zipf workload.
	capacity = 10_000
)

// Value is the cached value: a user record of about 100 bytes, or of about 10 KB with
// its order lines. Both tags are set so that every MessagePack codec writes the same
// field names.
type Value struct {
	ID    int64    `json:"id" msgpack:"id"`
	Name  string   `json:"name" msgpack:"name"`
	Email string   `json:"email" msgpack:"email"`
	Tags  []string `json:"tags" msgpack:"tags"`
	Score float64  `json:"score" msgpack:"score"`
	Lines []Line   `json:"lines,omitempty" msgpack:"lines,omitempty"`
}

// Line is one order line of a large Value.
type Line struct {
	SKU   string  `json:"sku" msgpack:"sku"`
	Qty   int64   `json:"qty" msgpack:"qty"`
	Price float64 `json:"price" msgpack:"price"`
	Note  string  `json:"note" msgpack:"note"`
}

// valueSize is one of the two value sizes of every workload.
type valueSize struct {
	name  string
	lines int
}

var sizes = []valueSize{{"100B", 0}, {"10KB", 96}}

// value returns the value of id at this size. Values of one size share their lines
// (they are never written to), so building one costs the same for every library.
func (s valueSize) value(id int64) Value {
	return Value{
		ID:    id,
		Name:  "user-" + strconv.FormatInt(id, 10),
		Email: "someone@example.com",
		Tags:  []string{"admin", "beta"},
		Score: 4.5,
		Lines: sharedLines[s.lines],
	}
}

var sharedLines = func() map[int][]Line {
	m := map[int][]Line{0: nil}
	for _, s := range sizes {
		lines := make([]Line, s.lines)
		for i := range lines {
			lines[i] = Line{
				SKU:   "SKU-" + strconv.Itoa(100000+i),
				Qty:   int64(i%7 + 1),
				Price: 19.99 + float64(i),
				Note:  "gift wrap, leave at the door, call before delivery " + strconv.Itoa(i),
			}
		}
		m[s.lines] = lines
	}
	return m
}()

// key returns the logical key of id, the key every library is given.
func key(id int64) string { return "k:" + strconv.FormatInt(id, 10) }

// idOf parses the id back out of a logical key.
func idOf(k string) int64 {
	id, _ := strconv.ParseInt(strings.TrimPrefix(k, "k:"), 10, 64)
	return id
}

// loaderWork is the fixed cost of one loader call, as CPU work (hashing loaderWork
// bytes) rather than as wall time, so that it scales with the machine like the rest
// of the run.
const loaderWork = 8 << 10

var workBuf = make([]byte, 1024)

var workSink atomic.Uint64

func sourceCost() {
	h := fnv.New64a()
	for range loaderWork / len(workBuf) {
		_, _ = h.Write(workBuf)
	}
	workSink.Store(h.Sum64())
}

// source is the source of truth of one benchmark: it counts its calls.
type source struct {
	size  valueSize
	calls atomic.Int64
	// slow makes every call sleep this long, for the stampede.
	slow time.Duration
}

func (s *source) load(k string) Value {
	s.calls.Add(1)
	sourceCost()
	if s.slow > 0 {
		time.Sleep(s.slow)
	}
	return s.size.value(idOf(k))
}

func (s *source) mload(keys []string) map[string]Value {
	s.calls.Add(1)
	sourceCost()
	out := make(map[string]Value, len(keys))
	for _, k := range keys {
		out[k] = s.size.value(idOf(k))
	}
	return out
}

// counts are the figures one Redis client reports, as the caller sees them: a round
// trip is one Do or DoMulti call (rueidis), one Process or pipeline Exec (go-redis);
// commands counts the commands in them, gets the single-key reads (GET, or GETRANGE,
// which accelerator sends to bound what it receives).
type counts struct {
	roundTrips atomic.Int64
	commands   atomic.Int64
	gets       atomic.Int64
}

type snapshot struct{ roundTrips, commands, gets int64 }

func (c *counts) snapshot() snapshot {
	return snapshot{c.roundTrips.Load(), c.commands.Load(), c.gets.Load()}
}

// countingRueidis wraps a rueidis client and counts what it sends.
type countingRueidis struct {
	rueidis.Client
	counts *counts
}

func (c countingRueidis) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	c.count(cmd)
	c.counts.roundTrips.Add(1)
	return c.Client.Do(ctx, cmd)
}

func (c countingRueidis) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	for _, cmd := range cmds {
		c.count(cmd)
	}
	c.counts.roundTrips.Add(1)
	return c.Client.DoMulti(ctx, cmds...)
}

func (c countingRueidis) count(cmd rueidis.Completed) {
	c.counts.commands.Add(1)
	if cs := cmd.Commands(); len(cs) > 0 && (cs[0] == "GET" || cs[0] == "GETRANGE") {
		c.counts.gets.Add(1)
	}
}

// countingHook is a go-redis hook that counts what a client sends.
type countingHook struct{ counts *counts }

func (h countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.count(cmd) {
			h.counts.roundTrips.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		counted := false
		for _, cmd := range cmds {
			counted = h.count(cmd) || counted
		}
		if counted {
			h.counts.roundTrips.Add(1)
		}
		return next(ctx, cmds)
	}
}

// count counts cmd unless go-redis sent it to set up a new connection (rueidis does
// that without going through Do), and reports whether it did.
func (h countingHook) count(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client", "auth", "select":
		return false
	case "get", "getrange":
		h.counts.gets.Add(1)
	}
	h.counts.commands.Add(1)
	return true
}

// redisServer is the Redis of one benchmark: the one scripts/bench.sh started, or
// one started for the benchmark by redistest.
type redisServer struct {
	addr string
	// admin reads the server's INFO; its own commands are not counted.
	admin *redis.Client
}

// serverStats is what the server says it did: the CPU time of its process
// (used_cpu_user + used_cpu_sys of INFO cpu, in µs: command execution, parsing and
// network I/O) and the commands it executed (INFO commandstats calls, the commands
// a Lua script calls included), less the suite's own administration.
type serverStats struct {
	cpuMicros float64
	calls     int64
}

// adminCommands are the commands that the suite and the clients' connection set-up
// send, which no operation causes.
var adminCommands = map[string]bool{
	"info": true, "flushall": true, "hello": true, "client": true, "ping": true,
	"select": true, "auth": true, "config": true, "command": true,
}

// stats reads the server's figures, or nothing (ok false) when it cannot.
func (s *redisServer) stats() (st serverStats, ok bool) {
	if s == nil || s.admin == nil {
		return st, false
	}
	txt, err := s.admin.Info(context.Background(), "cpu", "commandstats").Result()
	if err != nil {
		return st, false
	}
	for _, line := range strings.Split(txt, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "used_cpu_user:"), strings.HasPrefix(line, "used_cpu_sys:"):
			_, v, _ := strings.Cut(line, ":")
			f, _ := strconv.ParseFloat(v, 64)
			st.cpuMicros += f * 1e6
		case strings.HasPrefix(line, "cmdstat_"):
			name, rest, _ := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
			if base, _, _ := strings.Cut(name, "|"); adminCommands[base] {
				continue
			}
			for _, field := range strings.Split(rest, ",") {
				if v, ok := strings.CutPrefix(field, "calls="); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					st.calls += n
				}
			}
		}
	}
	return st, true
}

// startRedis returns the Redis to use, or skips r when the run is local-only or
// when redis-server is missing (it fails instead with
// ACCELERATOR_REQUIRE_INTEGRATION=1).
func startRedis(r runner) *redisServer {
	r.Helper()
	if _, ok := r.(listRunner); ok {
		return &redisServer{}
	}
	if os.Getenv(envLocalOnly) == "1" {
		r.Skip("local-only run: " + envLocalOnly + "=1")
	}
	addr := os.Getenv(envRedisAddr)
	if addr == "" {
		// Workloads that load fresh keys write a lot; LRU eviction bounds the server.
		addr = redistest.Start(r, redistest.WithArgs("--maxmemory", "1gb", "--maxmemory-policy", "allkeys-lru")).Addr()
	}
	s := &redisServer{addr: addr, admin: redis.NewClient(&redis.Options{Addr: addr})}
	r.Cleanup(func() { _ = s.admin.Close() })
	return s
}

// flush empties the server, so that every library starts from the same state and
// the server's memory stays bounded.
func (s *redisServer) flush(r runner) {
	r.Helper()
	if err := s.admin.FlushAll(context.Background()).Err(); err != nil {
		r.Fatalf("FLUSHALL on %s: %v", s.addr, err)
	}
}

// rueidisClient returns a counting rueidis client with default options (client-side
// caching off, as rueidisremote requires).
func (s *redisServer) rueidisClient(r runner, c *counts) (rueidis.Client, error) {
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{s.addr}, DisableCache: true})
	if err != nil {
		return nil, err
	}
	return countingRueidis{Client: client, counts: c}, nil
}

// goRedisClient returns a counting go-redis client with default options, but for
// ContextTimeoutEnabled, which goredisremote requires.
func (s *redisServer) goRedisClient(c *counts) *redis.Client {
	client := redis.NewClient(&redis.Options{Addr: s.addr, ContextTimeoutEnabled: true})
	client.AddHook(countingHook{counts: c})
	return client
}

var errNotFound = errors.New("bench: not found")
