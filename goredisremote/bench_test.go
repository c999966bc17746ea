package goredisremote_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/accelerator-go/accelerator/goredisremote"
)

// benchRemote wraps client in a Remote, gives a value to two thirds of keys, and
// counts what the Remote sends.
func benchRemote(b *testing.B, client redis.UniversalClient, keys []string) (*goredisremote.Remote, *counter) {
	b.Helper()
	hook := new(counter)
	client.AddHook(hook)
	r := mustNew(b, client)
	_, items := keysAndItems("bench", len(keys))
	ctx := context.Background()
	if err := r.MSet(ctx, items); err != nil {
		b.Fatalf("MSet = %v", err)
	}
	// Warm the connection pools, so that connection setup is not counted.
	if _, err := r.Get(ctx, keys[0]); err != nil {
		b.Fatalf("Get = %v", err)
	}
	if _, err := r.MGet(ctx, keys); err != nil {
		b.Fatalf("MGet = %v", err)
	}
	hook.reset()
	return r, hook
}

// reportCalls reports the commands and pipelines sent per operation, which is the
// number of round trips per operation for a single server.
func reportCalls(b *testing.B, hook *counter) {
	b.ReportMetric(float64(hook.commands.Load()+hook.pipelines.Load())/float64(b.N), "calls/op")
}

func BenchmarkGet(b *testing.B) {
	_, c := newClient(b)
	keys, _ := keysAndItems("bench", 3)
	r, hook := benchRemote(b, c, keys)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Get(ctx, keys[1]); err != nil {
			b.Fatal(err)
		}
	}
	reportCalls(b, hook)
}

func BenchmarkMGet(b *testing.B) {
	tests := []struct {
		name   string
		client func(b *testing.B) redis.UniversalClient
	}{
		{"standalone", func(b *testing.B) redis.UniversalClient { _, c := newClient(b); return c }},
		{"cluster", func(b *testing.B) redis.UniversalClient { _, c := newClusterClient(b); return c }},
	}
	for _, tt := range tests {
		b.Run(tt.name+"/100keys", func(b *testing.B) {
			keys, _ := keysAndItems("bench", 100)
			r, hook := benchRemote(b, tt.client(b), keys)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.MGet(ctx, keys); err != nil {
					b.Fatal(err)
				}
			}
			reportCalls(b, hook)
		})
	}
}
