// Command twolevel runs a two-level cache: an in-process L1 in front of Redis (L2), with
// a loader behind both. Two cache instances share one Redis, as two replicas of a
// service would: what one loads, the other reads from L2 without loading again.
//
//	ACCELERATOR_REDIS_URL=redis://127.0.0.1:6379 go run ./examples/twolevel
//
// If Redis is unreachable it says so and exits 0.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"sync/atomic"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/rueidisremote"
)

type Product struct {
	SKU   string
	Price int64
}

func main() {
	url := os.Getenv("ACCELERATOR_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379"
	}
	remote, err := rueidisremote.NewFromURL(url)
	if err != nil {
		fmt.Printf("Redis at %s is unreachable (%v); start one or set ACCELERATOR_REDIS_URL. Nothing to do.\n", url, err)
		return
	}
	defer remote.Close()

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
		log.Fatal(err)
	}
	defer replicaA.Close()
	replicaB, err := accelerator.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	defer replicaB.Close()

	ctx := context.Background()
	if err := replicaA.Del(ctx, "sku-42"); err != nil { // start from a cold cache
		log.Fatal(err)
	}
	p, _, err := replicaA.Get(ctx, "sku-42")
	fmt.Printf("replica A: %+v err=%v (loaded, written to Redis and L1)\n", p, err)
	p, _, err = replicaB.Get(ctx, "sku-42")
	fmt.Printf("replica B: %+v err=%v (read from Redis, filled its L1)\n", p, err)
	p, _, _ = replicaB.Get(ctx, "sku-42")
	fmt.Printf("replica B: %+v (served from its L1)\n", p)

	a, b := replicaA.MetricsSnapshot(), replicaB.MetricsSnapshot()
	fmt.Printf("\nsource queries=%d\nA: L1 hits=%d misses=%d, L2 hits=%d misses=%d, loads=%d\nB: L1 hits=%d misses=%d, L2 hits=%d misses=%d, loads=%d\n",
		queries.Load(),
		a.LocalHits, a.LocalMisses, a.RemoteHits, a.RemoteMisses, a.Loads,
		b.LocalHits, b.LocalMisses, b.RemoteHits, b.RemoteMisses, b.Loads)
}
